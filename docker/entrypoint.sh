#!/bin/sh
# The image's entry point: makes `docker run` with only a volume a complete chatd. On the first
# start it writes $CHATD_ENV_FILE (in the volume, mode 0600) with two fresh JWT secrets, so the
# secrets survive restarts and image upgrades and `docker exec <container> chatd ...` reads them
# too. Variables given to the container win over the file, as everywhere in chatd.
set -eu
env_file=${CHATD_ENV_FILE:-/data/chatd.env}
if [ ! -f "$env_file" ]; then
  umask 077
  secret() { node -e "process.stdout.write(require('node:crypto').randomBytes(32).toString('base64url'))"; }
  {
    echo "# Written by the chatd image on first start. Variables set on the container win over these."
    echo "JWT_SECRET=$(secret)"
    echo "JWT_REFRESH_SECRET=$(secret)"
  } > "$env_file.tmp"
  mv "$env_file.tmp" "$env_file"
fi
exec chatd "$@"
