/* Benchmark guest: REPS multiplications of two DIMxDIM integer matrices,
   initialised as Nachos's test/matmult.c does; exits with C[DIM-1][DIM-1]
   (980100 for DIM 100; the exit status Linux reports is that value & 0xff). */
#define DIM 100
#define REPS 10

int A[DIM][DIM], B[DIM][DIM], C[DIM][DIM];

int main(void)
{
    int i, j, k, r;
    for (i = 0; i < DIM; i++)
        for (j = 0; j < DIM; j++) {
            A[i][j] = i;
            B[i][j] = j;
        }
    for (r = 0; r < REPS; r++)
        for (i = 0; i < DIM; i++)
            for (j = 0; j < DIM; j++) {
                C[i][j] = 0;
                for (k = 0; k < DIM; k++)
                    C[i][j] += A[i][k] * B[k][j];
            }
    return C[DIM - 1][DIM - 1];
}
