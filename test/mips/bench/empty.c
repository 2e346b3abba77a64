/* Benchmark guest that exits at once: measures qemu-mipsel's start-up time. */
int main(void)
{
    return 0;
}
