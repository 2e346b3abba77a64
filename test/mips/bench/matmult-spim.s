# matmult.c's main as gcc -O2 -mips1 compiles it (see matmult.elf), written
# for spim: the same instructions, with pseudo-instructions spelled out as
# the single instructions gcc used and the arrays' addresses resolved for
# spim's data segment (C at 0x10010000, B at 0x10019c40, A at 0x10023880).
# One repetition instead of 10 ($16), since spim is slow. Run with
#   spim -delayed_branches -delayed_loads -file matmult-spim.s
	.data
C:	.space 40000
B:	.space 40000
A:	.space 40000
	.text
	.set noreorder
	.globl main
main:
	lui	$14,0x1002
	lui	$10,0x1002
	addiu	$sp,$sp,-8
	addiu	$14,$14,14464
	addiu	$10,$10,-25536
	or	$5,$10,$0
	sw	$16,4($sp)
	or	$4,$14,$0
	or	$3,$0,$0
	addiu	$8,$0,100
L2:
	or	$7,$5,$0
	or	$6,$4,$0
	or	$2,$0,$0
L3:
	sw	$2,0($7)
	addiu	$2,$2,1
	sw	$3,0($6)
	addiu	$7,$7,4
	bne	$2,$8,L3
	addiu	$6,$6,4
	addiu	$3,$3,1
	addiu	$4,$4,400
	bne	$3,$2,L2
	addiu	$5,$5,400
	lui	$12,0x1001
	lui	$25,0x1002
	ori	$24,$0,40000
	ori	$2,$0,40400
	lui	$11,0xffff
	addu	$24,$10,$24
	ori	$16,$0,1
	addiu	$12,$12,0
	addiu	$25,$25,-25536
	addu	$10,$10,$2
	addiu	$11,$11,25536
L4:
	or	$15,$12,$0
	or	$13,$0,$0
L9:
	sll	$9,$13,1
	addu	$9,$9,$13
	sll	$9,$9,3
	addu	$9,$9,$13
	sll	$9,$9,4
	or	$7,$24,$0
	addu	$9,$9,$14
	or	$8,$15,$0
L6:
	addu	$2,$7,$11
	or	$3,$9,$0
	or	$4,$0,$0
L5:
	lw	$5,0($2)
	lw	$6,0($3)
	addiu	$2,$2,400
	mult	$6,$5
	addiu	$3,$3,4
	mflo	$5
	bne	$2,$7,L5
	addu	$4,$4,$5
	addiu	$7,$2,4
	sw	$4,0($8)
	bne	$7,$10,L6
	addiu	$8,$8,4
	addiu	$15,$15,400
	bne	$15,$25,L9
	addiu	$13,$13,1
	addiu	$16,$16,-1
	bne	$16,$0,L4
	lui	$2,0x1
	addu	$12,$12,$2
	lw	$2,-25540($12)
	lw	$16,4($sp)
	# spim has no exit status: print the result (980100) before returning.
	or	$4,$2,$0
	ori	$2,$0,1
	syscall
	jr	$31
	addiu	$sp,$sp,8
