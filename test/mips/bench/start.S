/* Entry stub for the benchmark guests: calls main() and passes its result
   to the Linux o32 exit system call (number 4001). */
    .text
    .set noreorder
    .globl __start
    .ent __start
__start:
    jal main
    nop
    move $a0, $v0
    li $v0, 4001
    syscall
    break
    .end __start
