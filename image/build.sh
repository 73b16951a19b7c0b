#!/bin/sh
# image/build.sh - builds the appliance image: a read-only squashfs root under
# dm-verity, with hudumad as a sandboxed systemd service (docs/operator.md).
#
#   sh image/build.sh            (as root; `make image` runs it after building)
#
# Environment:
#   HUDUMA_BIN     release binaries to install (default build/rel/bin)
#   IMAGE_OUT      where the image goes (default build/image)
#   IMAGE_CACHE    the base-system cache (default build/image-cache)
#   IMAGE_MIRROR   Debian mirror (default: the first of this machine's apt sources,
#                  else http://deb.debian.org/debian)
#
# Stages:
#   1. base: `debootstrap --variant=minbase bookworm`, then the packages of
#      image/packages.list and the Debian packages that hold the shared
#      libraries of the binaries (ldd, dpkg -S).  Kept as a tarball in
#      IMAGE_CACHE named by a hash of that package list, so only a changed list
#      builds it again (minutes); otherwise it is unpacked (seconds).
#   2. initramfs: image/initramfs/ (an explicit module list, a hook that adds
#      veritysetup, a local-top script that checks and opens the verified root)
#      built by mkinitramfs in the base; cached by a hash of base and inputs.
#   3. root: the binaries, image/rootfs/ (units, configuration, nftables,
#      sysctls), the huduma user; then everything an attacker could use to
#      change or extend the system is deleted: apt, dpkg and their databases,
#      perl, the initramfs tooling, login, getty, su, sulogin.  dpkg is
#      Essential and cannot remove itself, so the tools are deleted from the
#      tree rather than purged; the build fails if any of them is left.
#   4. root.img: mksquashfs (zstd, level 3) then `veritysetup format` with the
#      hash tree appended to the same file; the root hash goes on the kernel
#      command line (OUT/cmdline).
#
# Output in IMAGE_OUT: vmlinuz, initrd.img, root.img, cmdline, security.txt
# (systemd-analyze security of hudumad.service), manifest.txt (sizes, hashes,
# build seconds, package versions).
set -eu

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT_DIR/image
BIN=${HUDUMA_BIN:-$ROOT_DIR/build/rel/bin}
OUT=${IMAGE_OUT:-$ROOT_DIR/build/image}
CACHE=${IMAGE_CACHE:-$ROOT_DIR/build/image-cache}
SUITE=bookworm
NICE="nice -n 10"
T0=$(date +%s)

say() { echo "image: $*"; }
die() {
    echo "image: $*" >&2
    exit 1
}

mirror() {
    if [ -n "${IMAGE_MIRROR:-}" ]; then
        echo "$IMAGE_MIRROR"
        return
    fi
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -n -e 's/^URIs:[[:space:]]*\(http[^ ]*debian\)\/*$/\1/p' \
            -e 's/^deb[[:space:]]\{1,\}\(http[^ ]*debian\)\/*[[:space:]]\{1,\}'"$SUITE"'[[:space:]].*/\1/p' |
        head -n 1)
    echo "${m:-http://deb.debian.org/debian}"
}

checks() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"
    for tool in debootstrap mksquashfs veritysetup chroot tar sha256sum ldd dpkg-query; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run sh scripts/deps-image.sh"
    done
    for b in huduma hudumad; do
        [ -x "$BIN/$b" ] || die "no $BIN/$b: build the release binaries first (make VARIANT=rel build)"
    done
}

# The appliance's programs: every binary in BIN but the load generator, which
# floods a server and has no place on the appliance.
programs() {
    for b in "$BIN"/*; do
        [ -f "$b" ] && [ -x "$b" ] || continue
        case $(basename "$b") in huduma-load) continue ;; esac
        echo "$b"
    done
}

# The Debian packages holding the shared libraries of the programs.
library_packages() {
    programs | while read -r b; do ldd "$b"; done |
        sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | sort -u |
        while read -r lib; do
            real=$(readlink -f "$lib")
            dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null ||
                dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
                die "no Debian package holds $lib"
        done | sed 's/:.*//; s/:amd64$//' | sort -u
}

package_list() {
    sed 's/#.*//' "$HERE/packages.list" | tr -s ' \t' '\n\n' | sed '/^$/d'
    library_packages
}

# ---- chroot helpers ------------------------------------------------------------------------

MOUNTED=""
chroot_mount() { # DIR: /proc, /sys and /dev for package scripts
    mount -t proc proc "$1/proc"
    mount -t sysfs sysfs "$1/sys"
    mount --bind /dev "$1/dev"
    MOUNTED="$1"
}
chroot_umount() {
    [ -n "$MOUNTED" ] || return 0
    umount "$MOUNTED/dev" "$MOUNTED/sys" "$MOUNTED/proc" 2>/dev/null || :
    MOUNTED=""
}
WORK=""
cleanup() {
    chroot_umount
    [ -n "$WORK" ] || return 0
    # Never delete through a mount (a bind of /dev above all) still in place.
    if grep -q " $WORK/" /proc/mounts; then
        echo "image: mounts are left under $WORK; not removing it" >&2
        return 0
    fi
    rm -rf "$WORK"
}
in_root() { LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$WORK/root" "$@"; }

# ---- 1. base -------------------------------------------------------------------------------

build_base() { # TARBALL PACKAGES
    tarball=$1
    pkgs=$(echo "$2" | tr '\n' ' ')
    m=$(mirror)
    say "base: debootstrap $SUITE from $m (minutes; cached afterwards as $(basename "$tarball"))"
    rm -rf "$WORK/root"
    $NICE debootstrap --variant=minbase "$SUITE" "$WORK/root" "$m" >"$WORK/debootstrap.log" 2>&1 ||
        {
            tail -n 20 "$WORK/debootstrap.log" >&2
            die "debootstrap failed"
        }
    # No services start in the chroot; no initramfs is made by package scripts
    # (stage 2 makes the only one, with the appliance's module list).
    printf '#!/bin/sh\nexit 101\n' >"$WORK/root/usr/sbin/policy-rc.d"
    chmod 755 "$WORK/root/usr/sbin/policy-rc.d"
    # update-initramfs is diverted to a no-op while the packages install.
    chroot_mount "$WORK/root"
    in_root dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
    printf '#!/bin/sh\nexit 0\n' >"$WORK/root/usr/sbin/update-initramfs"
    chmod 755 "$WORK/root/usr/sbin/update-initramfs"
    say "base: installing $(echo "$pkgs" | wc -w) packages"
    # shellcheck disable=SC2086
    $NICE chroot "$WORK/root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold $pkgs" >"$WORK/apt.log" 2>&1 ||
        {
            tail -n 20 "$WORK/apt.log" >&2
            die "installing the packages failed"
        }
    rm "$WORK/root/usr/sbin/update-initramfs"
    in_root dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
    in_root apt-get clean
    in_root dpkg-query -W -f '${Package} ${Version}\n' >"$WORK/root/.packages"
    chroot_umount
    rm -f "$WORK/root/usr/sbin/policy-rc.d"
    mkdir -p "$CACHE"
    tar -C "$WORK/root" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
}

# ---- 2. initramfs --------------------------------------------------------------------------

kernel_version() { ls "$WORK/root/lib/modules" | sort -V | tail -n 1; }

build_initrd() { # CACHED_INITRD
    kver=$(kernel_version)
    say "initramfs: mkinitramfs for $kver"
    cp -r "$HERE/initramfs/." "$WORK/root/etc/initramfs-tools/"
    chmod 755 "$WORK/root/etc/initramfs-tools/hooks/"* "$WORK/root/etc/initramfs-tools/scripts/local-top/"*
    chroot_mount "$WORK/root"
    $NICE chroot "$WORK/root" mkinitramfs -o /boot/initrd.img.new "$kver" >"$WORK/mkinitramfs.log" 2>&1 ||
        {
            tail -n 20 "$WORK/mkinitramfs.log" >&2
            die "mkinitramfs failed"
        }
    chroot_umount
    mv "$WORK/root/boot/initrd.img.new" "$1.tmp" && mv "$1.tmp" "$1"
}

# ---- 3. root -------------------------------------------------------------------------------

install_programs() {
    programs | while read -r b; do
        install -m 0755 "$b" "$WORK/root/usr/bin/$(basename "$b")"
        say "root: /usr/bin/$(basename "$b")"
    done
}

install_rootfs() {
    cp -r "$HERE/rootfs/." "$WORK/root/"
    mkdir -p "$WORK/root/data"
    chmod 755 "$WORK/root/usr/lib/huduma/"*
    in_root groupadd --system huduma
    in_root useradd --system --gid huduma --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin huduma
    in_root systemctl enable huduma-data.service huduma-init.service huduma-provision.service \
        hudumad.service nftables.service systemd-networkd.service acpid.service >/dev/null 2>&1
    # No way to log in: no console or serial getty, no debug shell, no
    # rescue or emergency shell (a failed boot powers off instead).
    in_root systemctl mask getty@.service serial-getty@.service autovt@.service \
        console-getty.service container-getty@.service debug-shell.service \
        rescue.service emergency.service getty-static.service apt-daily.timer \
        apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer >/dev/null 2>&1
    in_root systemctl set-default multi-user.target >/dev/null 2>&1
    in_root usermod --lock --shell /usr/sbin/nologin root
    add_ratelimit
    : >"$WORK/root/etc/machine-id"
    echo huduma >"$WORK/root/etc/hostname"
    ln -sf /usr/share/zoneinfo/Etc/UTC "$WORK/root/etc/localtime" 2>/dev/null || :
}

# The XDP rate limiter on the API interface (api0, named by
# etc/systemd/network/10-api0.link), when this hudumad has one: the
# [ratelimit] section of image/hudumad-ratelimit.conf is added only if
# `hudumad --check-config` accepts it.
add_ratelimit() {
    conf=$WORK/root/etc/huduma/hudumad.conf
    cat "$conf" "$HERE/hudumad-ratelimit.conf" >"$WORK/root/etc/huduma/try.conf"
    in_root /usr/bin/hudumad --check-config /etc/huduma/try.conf >"$WORK/rl.txt" 2>&1 || :
    if grep -q -i -e 'unknown section' -e 'ratelimit' -e 'class' -e 'interface' "$WORK/rl.txt"; then
        say "root: this hudumad has no XDP rate limiter; [ratelimit] left out"
        rm "$WORK/root/etc/huduma/try.conf"
    else
        say "root: XDP rate limiter on api0 ([ratelimit] in /etc/huduma/hudumad.conf)"
        mv "$WORK/root/etc/huduma/try.conf" "$conf"
    fi
}

# What must not be in the image: the package manager and its databases, the
# ways to log in or become root, the interpreters and the initramfs tooling.
REMOVE="
usr/bin/apt* usr/bin/dpkg* usr/sbin/dpkg* usr/lib/apt usr/lib/dpkg usr/share/dpkg
var/lib/dpkg var/lib/apt var/cache/apt var/cache/debconf var/log/apt etc/apt etc/dpkg
usr/share/debconf usr/bin/debconf* usr/sbin/dpkg-* usr/bin/gpgv
usr/bin/perl* usr/lib/x86_64-linux-gnu/perl-base usr/share/perl5 usr/lib/x86_64-linux-gnu/perl*
usr/bin/login usr/bin/su usr/sbin/sulogin usr/sbin/agetty usr/sbin/getty usr/bin/newgrp usr/bin/chfn usr/bin/chsh
usr/bin/passwd usr/bin/gpasswd usr/sbin/nologin.real
usr/sbin/mkinitramfs usr/sbin/update-initramfs usr/sbin/lsinitramfs usr/share/initramfs-tools
etc/initramfs-tools usr/sbin/unmkinitramfs
usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/bug usr/share/locale
boot/* .packages
"
FORBIDDEN="apt apt-get dpkg perl python3 gcc cc c++ g++ clang tcc as ld ssh sshd login su sudo
sulogin agetty getty mkinitramfs"

strip_root() {
    kver=$(kernel_version)
    cp "$WORK/root/.packages" "$WORK/packages.txt"
    # The kernel and initramfs boot from outside the root; modules that an
    # appliance never loads (sound, graphics, wireless, media, ...) go.
    cp "$WORK/root/boot/vmlinuz-$kver" "$WORK/vmlinuz"
    for d in sound drivers/gpu drivers/media drivers/net/wireless drivers/bluetooth drivers/staging \
        drivers/infiniband drivers/iio drivers/hid drivers/input/touchscreen drivers/isdn \
        drivers/video net/bluetooth net/mac80211 net/wireless; do
        rm -rf "$WORK/root/lib/modules/$kver/kernel/$d"
    done
    in_root depmod "$kver"
    (
        cd "$WORK/root"
        # shellcheck disable=SC2086 # the globs are meant
        rm -rf $REMOVE
    )
    # nologin stays (it refuses); every system account is locked.
    for tool in $FORBIDDEN; do
        for dir in usr/bin usr/sbin bin sbin usr/local/bin usr/local/sbin; do
            if [ -e "$WORK/root/$dir/$tool" ] || [ -L "$WORK/root/$dir/$tool" ]; then
                die "/$dir/$tool is still in the image"
            fi
        done
    done
    for f in "$WORK"/root/usr/bin/*gcc* "$WORK"/root/usr/bin/*-cc "$WORK"/root/usr/bin/python*; do
        if [ -e "$f" ]; then die "a compiler or interpreter is still in the image: /usr/bin/${f##*/}"; fi
    done
}

# The binaries run in the root (every library is there), the configuration
# is one this hudumad accepts (only the register and TLS files, made on first
# boot, may be missing), and the firewall ruleset parses.
check_root() {
    for b in huduma hudumad; do
        in_root "/usr/bin/$b" --help >/dev/null 2>&1 || die "/usr/bin/$b --help fails in the image root"
    done
    in_root /usr/bin/hudumad --check-config /etc/huduma/hudumad.conf >"$WORK/check.txt" 2>&1 || :
    if grep -v -e 'register_dir' -e 'tls' -e 'certificate' -e 'configuration ok' -e ' key' \
        "$WORK/check.txt" | grep -q .; then
        cat "$WORK/check.txt" >&2
        die "hudumad refuses /etc/huduma/hudumad.conf"
    fi
    if command -v nft >/dev/null 2>&1; then
        nft -c -f "$WORK/root/etc/nftables.conf" || die "etc/nftables.conf does not parse"
    fi
}

security_report() {
    SYSTEMD_LOG_LEVEL=err systemd-analyze security --offline=true --root="$WORK/root" \
        hudumad.service >"$OUT/security.txt" 2>&1 || :
    tail -n 1 "$OUT/security.txt" | sed 's/^/image: hudumad.service: /'
}

# ---- 4. root.img ---------------------------------------------------------------------------

make_root_image() {
    rm -f "$WORK/root.img"
    $NICE mksquashfs "$WORK/root" "$WORK/root.img" -comp zstd -Xcompression-level 3 -noappend \
        -no-progress -quiet -no-xattrs -mkfs-time 0 -all-time 0 -processors 2 >/dev/null
    size=$(stat -c %s "$WORK/root.img")
    [ $((size % 4096)) -eq 0 ] || die "squashfs size $size is not a multiple of 4096"
    $NICE veritysetup format --hash-offset="$size" --data-blocks=$((size / 4096)) \
        "$WORK/root.img" "$WORK/root.img" >"$WORK/verity.txt"
    ROOT_HASH=$(sed -n 's/^Root hash:[[:space:]]*//p' "$WORK/verity.txt")
    [ -n "$ROOT_HASH" ] || die "veritysetup printed no root hash"
    DATA_BYTES=$size
}

write_outputs() {
    mkdir -p "$OUT"
    mv "$WORK/root.img" "$OUT/root.img"
    cp "$WORK/vmlinuz" "$OUT/vmlinuz"
    cp "$INITRD" "$OUT/initrd.img"
    # huduma.verity: root hash; huduma.verity_offset: where the hash tree
    # starts in the root device (= the squashfs size).  panic=10: a boot that
    # fails powers off or reboots after 10 s, with no shell on the console.
    echo "root=/dev/mapper/huduma-root rootfstype=squashfs ro huduma.rootdev=/dev/disk/by-id/virtio-huduma-root huduma.verity=$ROOT_HASH huduma.verity_offset=$DATA_BYTES huduma.data=/dev/disk/by-id/virtio-huduma-data panic=10 lockdown=integrity console=ttyS0,115200 systemd.show_status=1 loglevel=4" >"$OUT/cmdline"
    cp "$WORK/packages.txt" "$OUT/packages.txt"
    {
        echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "build_seconds: $(($(date +%s) - T0))"
        echo "base: $(basename "$BASE_TAR") ($BASE_STATE)"
        echo "kernel: $(kernel_version)"
        echo "root_hash: $ROOT_HASH"
        echo "squashfs_bytes: $DATA_BYTES"
        for f in vmlinuz initrd.img root.img; do
            echo "$f: $(stat -c %s "$OUT/$f") bytes sha256 $(sha256sum "$OUT/$f" | cut -c1-64)"
        done
    } >"$OUT/manifest.txt"
}

main() {
    checks
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    mkdir -p "$CACHE" "$OUT"
    WORK=$(mktemp -d "$CACHE/work.XXXXXX")
    PKGS=$(package_list | sort -u)
    key=$({
        echo "$SUITE"
        echo "$PKGS"
        sed -n '/^# ---- 1. base/,/^# ---- 2/p' "$0"
    } | sha256sum | cut -c1-16)
    BASE_TAR=$CACHE/base-$key.tar
    if [ -f "$BASE_TAR" ]; then
        BASE_STATE=cached
        say "base: cached $(basename "$BASE_TAR")"
        mkdir "$WORK/root"
        tar -C "$WORK/root" --numeric-owner -xf "$BASE_TAR"
    else
        BASE_STATE=built
        build_base "$BASE_TAR" "$PKGS"
    fi
    ikey=$({
        echo "$key"
        find "$HERE/initramfs" -type f | sort | xargs cat
        sed -n '/^# ---- 2. initramfs/,/^# ---- 3/p' "$0"
    } | sha256sum | cut -c1-16)
    INITRD=$CACHE/initrd-$ikey.img
    if [ -f "$INITRD" ]; then say "initramfs: cached $(basename "$INITRD")"; else build_initrd "$INITRD"; fi
    install_programs
    install_rootfs
    strip_root
    check_root
    security_report
    say "root: mksquashfs and veritysetup"
    make_root_image
    write_outputs
    # Old cache entries (another package list) are dropped; the current ones stay.
    find "$CACHE" -maxdepth 1 \( -name 'base-*.tar' -o -name 'initrd-*.img' \) \
        ! -name "$(basename "$BASE_TAR")" ! -name "$(basename "$INITRD")" -delete
    say "done in $(($(date +%s) - T0)) s: $OUT (root.img $(($(stat -c %s "$OUT/root.img") / 1048576)) MiB)"
}

main "$@"
