/*
 * harness.c — see harness.h. Prints one line per test and the closing
 * "N passed, N failed" line CTest logs and CI reads.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

int df_test_failures;
int df_test_passed;
int df_test_failed;
const char *df_test_current = "";

void df_test_run(const char *name, void (*fn)(void))
{
    int before = df_test_failures;
    df_test_current = name;
    fn();
    if (df_test_failures == before) {
        df_test_passed++;
        printf("ok   %s\n", name);
    } else {
        df_test_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

int df_test_finish(void)
{
    printf("%d passed, %d failed\n", df_test_passed, df_test_failed);
    return df_test_failed ? 1 : 0;
}

unsigned char *df_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long length = ftell(f);
    rewind(f);
    unsigned char *data = malloc(length > 0 ? (size_t)length + 1 : 1);
    if (!data || (length > 0 && fread(data, 1, (size_t)length, f) != (size_t)length)) {
        free(data);
        fclose(f);
        return NULL;
    }
    data[length > 0 ? length : 0] = 0;
    fclose(f);
    if (size)
        *size = (size_t)length;
    return data;
}

const char *df_test_path(const char *relative)
{
    static char buffers[8][4096];
    static int next;
    char *buffer = buffers[next++ & 7];
    snprintf(buffer, sizeof buffers[0], "%s/%s", DF_SOURCE_DIR, relative);
    return buffer;
}
