#!/bin/sh
# Usage: start.sh ACL_TEMPLATE[,ACL_TEMPLATE...] ACL_FILE COMMAND...
# Writes ACL_FILE (mode 600): the ACL_TEMPLATEs, in order, with, on each `user NAME ... on ...`
# line, NAME's password from the environment variable REDIS_<NAME>_PASSWORD appended. Then runs
# COMMAND. (The sentinel profile adds replication.acl to users.acl.)
# Passwords must be URL-safe (letters, digits and -._~): maskbridge's MB_REDIS_URL carries one.
set -eu
[ $# -ge 3 ] || { echo "usage: start.sh ACL_TEMPLATE ACL_FILE COMMAND..." >&2; exit 64; }
templates=$1
out=$2
shift 2
umask 077
tmp="$out.tmp"
template="$out.src"
: > "$tmp"
: > "$template"
for t in $(printf '%s' "$templates" | tr ',' ' '); do
  [ -r "$t" ] || { echo "start.sh: cannot read ACL template $t" >&2; exit 1; }
  cat "$t" >> "$template"
  echo >> "$template"
done
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    user\ *\ on\ *|user\ *\ on)
      name=${line#user }
      name=${name%% *}
      case "$name" in
        ''|*[!A-Za-z0-9_-]*) echo "start.sh: unusable Redis user name '$name' in $template" >&2; exit 1 ;;
      esac
      var="REDIS_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')_PASSWORD"
      eval "password=\${$var:-}"
      if [ -z "$password" ]; then
        echo "start.sh: $var is not set (password of Redis user $name)" >&2
        exit 1
      fi
      case "$password" in
        *[!A-Za-z0-9._~-]*)
          echo "start.sh: $var may hold only letters, digits and -._~ (it goes into a URL)" >&2
          exit 1
          ;;
      esac
      printf '%s >%s\n' "$line" "$password" >> "$tmp"
      ;;
    user\ *) printf '%s\n' "$line" >> "$tmp" ;;
    *) ;; # comments and blank lines: Redis ACL files take only user lines
  esac
done < "$template"
rm -f "$template"
mv "$tmp" "$out"
exec "$@"
