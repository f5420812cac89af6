// OpenBLAS's CBLAS interface. Debian puts cblas.h under the multiarch
// include directory (libopenblas-dev); macOS Homebrew keeps it in the
// openblas prefix, which the build then passes with -Xcc -I.
#include <cblas.h>
// OpenBLAS extensions: thread count control.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
