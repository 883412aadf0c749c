#!/usr/bin/env bash
# The systemd_unit test: installs mcpgate as a Debian package build would
# (`cmake --install --prefix /usr` into a temporary DESTDIR) and checks that
#  - each file landed where Debian keeps it, as written in systemd/;
#  - a second install keeps an admin's edited /etc/mcpgate/mcpgate.yaml;
#  - `systemd-analyze verify` has nothing to say about the installed unit,
#    with the DESTDIR as root so that ExecStart's /usr/bin/mcpgate resolves;
#  - the sysusers.d and tmpfiles.d files apply cleanly to that root and give
#    the files the owners and modes the unit expects (needs root: chown);
#  - `mcpgate check-config` accepts the installed example config with the
#    unit's CREDENTIALS_DIRECTORY, and refuses it without one.
# Needs no running systemd (CI runs in a container), only its tools
# (`scripts/install-deps --for-tests` installs them).
#
# Usage: verify.sh CMAKE BUILD_DIR SOURCE_DIR UNIT_DIR SYSUSERS_DIR TMPFILES_DIR
# (the three directories as configured; relative ones are under the prefix).
set -euo pipefail

[ $# -eq 6 ] || { echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR UNIT_DIR SYSUSERS_DIR TMPFILES_DIR" >&2; exit 2; }
cmake=$1 build=$2 source=$3
prefix=/usr
under_prefix() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
unit_dir=$(under_prefix "$4") sysusers_dir=$(under_prefix "$5") tmpfiles_dir=$(under_prefix "$6")

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/install-deps --for-tests installs it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-systemd.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

install_into_root() {
  if ! DESTDIR=$root "$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    echo "FAIL: cmake --install" >&2
    exit 1
  fi
}

# Installed `path` (in the root) is a copy of `source_file`.
expect_copy() {
  local path=$1 source_file=$2
  if [ ! -f "$root$path" ]; then fail "$path not installed"
  elif ! cmp -s "$root$path" "$source/$source_file"; then fail "$path differs from $source_file"
  else pass "$path"
  fi
}

# `path` in the root has mode `mode` and, when given, owner uid:gid `owner`.
expect_mode() {
  local path=$1 mode=$2 owner=${3:-} actual
  actual=$(stat -c '%a %u:%g' "$root$path" 2>/dev/null) || { fail "$path missing"; return; }
  if [ "${actual%% *}" != "$mode" ] || { [ -n "$owner" ] && [ "${actual#* }" != "$owner" ]; }; then
    fail "$path is $actual, expected $mode${owner:+ $owner}"
  else
    pass "$path $actual"
  fi
}

# 1. Where the files land.
install_into_root
if [ -x "$root$prefix/bin/mcpgate" ]; then pass "$prefix/bin/mcpgate"; else fail "$prefix/bin/mcpgate not installed"; fi
expect_copy "$unit_dir/mcpgate.service" systemd/mcpgate.service
expect_copy "$sysusers_dir/mcpgate.conf" systemd/mcpgate.sysusers
expect_copy "$tmpfiles_dir/mcpgate.conf" systemd/mcpgate.tmpfiles
expect_copy /etc/mcpgate/mcpgate.yaml systemd/mcpgate.yaml
expect_mode /etc/mcpgate/mcpgate.yaml 640

# 2. Installing again leaves the admin's config alone.
echo "# edited by the admin" >>"$root/etc/mcpgate/mcpgate.yaml"
install_into_root
if tail -n 1 "$root/etc/mcpgate/mcpgate.yaml" | grep -qx "# edited by the admin"; then
  pass "a second install keeps an edited /etc/mcpgate/mcpgate.yaml"
else
  fail "a second install replaced the edited /etc/mcpgate/mcpgate.yaml"
fi
cp "$source/systemd/mcpgate.yaml" "$root/etc/mcpgate/mcpgate.yaml"

# 3. systemd-analyze verify on the installed unit. The root stands for the
# machine the package is installed on, so it gets what that machine has and
# the package does not ship: systemd's own units (sysinit.target and the
# rest, which every service depends on) and the programs the unit runs that
# are not mcpgate's (ExecReload's /bin/kill, from procps), copied from here.
host_unit_dir=/lib/systemd/system
mkdir -p "$root$host_unit_dir"
cp -rn "$host_unit_dir/." "$root$host_unit_dir/"
for program in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' "$root$unit_dir/mcpgate.service" | sort -u); do
  [ -e "$root$program" ] && continue
  if [ -x "$program" ]; then
    install -D -m 0755 "$program" "$root$program"
  else
    fail "$program (run by the unit) is not on this machine to copy into the root"
  fi
done
if verify_output=$(systemd-analyze verify --root="$root" --recursive-errors=no mcpgate.service 2>&1) &&
   [ -z "$verify_output" ]; then
  pass "systemd-analyze verify mcpgate.service: no warnings"
else
  fail "systemd-analyze verify mcpgate.service:"$'\n'"$verify_output"
fi

# 4. sysusers.d and tmpfiles.d applied to the root, with a key made as the
# README says (deliberately too open: tmpfiles must make it root-only).
if sysusers_output=$(systemd-sysusers --root="$root" mcpgate.conf 2>&1) &&
   ! grep -v "^Creating " <<<"$sysusers_output" | grep -q .; then
  pass "systemd-sysusers mcpgate.conf"
else
  fail "systemd-sysusers mcpgate.conf:"$'\n'"$sysusers_output"
fi
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/etc/mcpgate/secret.key"
chmod 0644 "$root/etc/mcpgate/secret.key"
if grep -qxE '[0-9a-f]{64}' "$root/etc/mcpgate/secret.key"; then
  pass "the README's key recipe writes 64 hex digits"
else
  fail "the README's key recipe wrote: $(cat "$root/etc/mcpgate/secret.key")"
fi
if [ "$(id -u)" -eq 0 ]; then
  uid=$(awk -F: '$1 == "mcpgate" { print $3 }' "$root/etc/passwd")
  gid=$(awk -F: '$1 == "mcpgate" { print $3 }' "$root/etc/group")
  if tmpfiles_output=$(systemd-tmpfiles --root="$root" --create mcpgate.conf 2>&1) && [ -z "$tmpfiles_output" ]; then
    pass "systemd-tmpfiles --create mcpgate.conf"
  else
    fail "systemd-tmpfiles --create mcpgate.conf:"$'\n'"$tmpfiles_output"
  fi
  expect_mode /etc/mcpgate 750 "0:$gid"
  expect_mode /etc/mcpgate/mcpgate.yaml 640 "0:$gid"
  expect_mode /etc/mcpgate/secret.key 600 0:0
  expect_mode /var/lib/mcpgate 700 "$uid:$gid"
else
  echo "skipped: systemd-tmpfiles (changing owners needs root)"
fi

# 5. check-config on the installed config, as the unit runs it: the key file
# is named through $CREDENTIALS_DIRECTORY, and without it the config is
# refused (so nothing outside the unit generates or reads a key by mistake).
config=$root/etc/mcpgate/mcpgate.yaml
if check_output=$(CREDENTIALS_DIRECTORY=/run/credentials/mcpgate.service \
                  "$root$prefix/bin/mcpgate" check-config "$config" 2>&1); then
  pass "mcpgate check-config /etc/mcpgate/mcpgate.yaml"
else
  fail "mcpgate check-config /etc/mcpgate/mcpgate.yaml:"$'\n'"$check_output"
fi
if check_output=$(env -u CREDENTIALS_DIRECTORY "$root$prefix/bin/mcpgate" check-config "$config" 2>&1); then
  fail "check-config accepted the config without CREDENTIALS_DIRECTORY"
elif grep -q "environment variable CREDENTIALS_DIRECTORY is not set" <<<"$check_output"; then
  pass "without CREDENTIALS_DIRECTORY the config is refused"
else
  fail "check-config without CREDENTIALS_DIRECTORY:"$'\n'"$check_output"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
