/* Benchmark guest: branchy code with calls. Fills an array of N integers
   from a linear congruential generator, sorts it with a recursive
   quicksort (insertion sort for short runs), checks the order and exits
   with a checksum of the sorted array, masked to 7 bits (exit status). */
#define N 200000

static unsigned int a[N];

static void insertion(unsigned int *v, int n)
{
    int i, j;
    for (i = 1; i < n; i++) {
        unsigned int x = v[i];
        for (j = i; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static void quicksort(unsigned int *v, int n)
{
    while (n > 16) {
        unsigned int pivot = v[n / 2];
        int i = 0, j = n - 1;
        for (;;) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i >= j) break;
            unsigned int t = v[i]; v[i] = v[j]; v[j] = t;
            i++; j--;
        }
        /* Recurse into the smaller part, loop on the larger. */
        if (j + 1 < n - j - 1) {
            quicksort(v, j + 1);
            v += j + 1; n -= j + 1;
        } else {
            quicksort(v + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    insertion(v, n);
}

int main(void)
{
    unsigned int x = 12345, sum = 0;
    int i;
    for (i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        a[i] = x >> 8;
    }
    quicksort(a, N);
    for (i = 1; i < N; i++)
        if (a[i - 1] > a[i])
            return 255;
    for (i = 0; i < N; i++)
        sum = sum * 31 + a[i];
    return sum & 127;
}
