// The server's wire shapes the app reads (see src/modules/*/presenter.ts on the server).

export interface User {
  _id: string;
  username: string;
  avatar?: string | null;
  status?: string;
  customStatus?: string | null;
  lastSeen?: string | null;
  email?: string;
  role?: 'user' | 'admin';
}

export interface Attachment {
  fileId: string;
  fileName: string;
  fileSize: number;
  fileUrl: string;
  mimeType: string;
}

export interface Reaction {
  emoji: string;
  userId: string;
}

export interface Message {
  _id: string;
  roomId: string;
  senderId: string;
  content: string | null;
  messageType: string;
  fileAttachment: Attachment | null;
  readBy: { userId: string; readAt: string }[];
  reactions: Reaction[];
  editedAt: string | null;
  isDeleted: boolean;
  clientMsgId?: string | null;
  createdAt: string;
}

export interface Room {
  _id: string;
  name: string;
  type: 'public' | 'private' | 'direct';
  description?: string | null;
  memberCount: number;
  participants?: string[];
  lastMessageAt?: string | null;
  unreadCount?: number;
  lastMessage?: Message | null;
  lastReadMessageId?: string | null;
  joined?: boolean;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}
