# Sourced by assemble and run: s2i_environment FILE exports FILE's KEY=VALUE lines (s2i's .s2i/environment
# format: no quoting, `#` comments) that the env does not already set. s2i itself passes them in the env; an
# image built without s2i (Containerfile.user) gets them here, the env winning either way.
s2i_environment() {
  [ -f "$1" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    key=${line%%=*}
    case $key in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
    eval "isset=\${$key+x}"
    [ -n "$isset" ] || export "$key=${line#*=}"
  done <"$1"
}
