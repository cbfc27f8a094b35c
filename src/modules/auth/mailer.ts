import nodemailer from 'nodemailer';
import type { Logger } from '../../logger.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** Delivers the few mails chatd sends (password reset). */
export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/** SMTP through nodemailer when SMTP_URL is set; otherwise the mail goes to the log with a warning. */
export function createMailer(settings: { smtpUrl: string | undefined; from: string }, logger: Logger): Mailer {
  const log = logger.child({ component: 'mail' });
  if (!settings.smtpUrl) {
    return {
      async send(mail) {
        log.warn({ to: mail.to, subject: mail.subject }, `SMTP_URL is not set, so this mail was not sent; its text follows:\n${mail.text}`);
      },
    };
  }
  const transport = nodemailer.createTransport(settings.smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({ from: settings.from, to: mail.to, subject: mail.subject, text: mail.text });
      log.info({ to: mail.to, subject: mail.subject }, 'mail sent');
    },
  };
}
