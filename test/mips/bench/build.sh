#!/bin/sh
# Rebuilds the benchmark guests (needs Debian's gcc-mipsel-linux-gnu).
# Linked without -N, so that code and data are on separate pages, which
# keeps qemu-mipsel fast; our machine runs the same binaries.
set -e
cd "$(dirname "$0")"
CC=mipsel-linux-gnu-gcc
CFLAGS="-O2 -mips1 -mfp32 -msoft-float -EL -mno-abicalls -fno-pic -G 0 -ffreestanding -fno-builtin -fno-stack-protector"
for prog in matmult sort empty; do
    $CC $CFLAGS -nostdlib -static -Wl,--build-id=none -o $prog.elf start.S $prog.c
done
