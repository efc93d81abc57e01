/*
 * generate.c — `diffuse generate`: prompt in, image files out. A thin front
 * on df_model_generate: it parses and range-checks options (usage errors exit
 * 2 before anything is loaded), checks that every output file can be created
 * BEFORE generating (a typo in -o must not cost a whole generation), shows
 * progress, turns Ctrl-C into a cancel within one step (exit 130, no output
 * written), and writes the images with AUTOMATIC1111's "parameters" text so
 * a PNG can be dropped back into A1111's PNG Info. With --weighting, the
 * prompt's A1111 <lora:NAME:SCALE> tags are LoRAs too (found in --lora-dir,
 * or as files), as --lora gives them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "diffuse.h"
#include "io/image.h"
#include "pipeline/lora_prompt.h"

#define EXIT_CANCELLED 130
/* Init images larger than this are refused before decoding (a decompression
 * bomb costs nothing); 4096 x 4096 is also the largest size we generate. */
#define INIT_MAX_PIXELS (4096 * 4096)
/* JPEG keeps the parameters in one 64 KB EXIF segment as UTF-16 (see
 * image.h); prompts longer than this cannot fit with the rest of the text. */
#define JPEG_PROMPT_BYTES_MAX 32000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diffuse generate [OPTIONS] -p PROMPT\n"
            "\n"
            "Generates images from a prompt (txt2img), or from a prompt and an init image\n"
            "(img2img), and writes them as PNG, JPEG or WebP with the AUTOMATIC1111\n"
            "\"parameters\" text (PNG Info). Prints each written file and its seed.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH        diffusers folder or single .safetensors checkpoint\n"
            "                          (default: $DIFFUSE_MODEL, else the bundled model\n"
            "                          %s)\n"
            "  -p, --prompt TEXT       the prompt (required; a single argument without -p\n"
            "                          is taken as the prompt too)\n"
            "      --negative TEXT     negative prompt (default: empty; SDXL base: zero\n"
            "                          conditioning, as diffusers; give \"\" for the empty\n"
            "                          prompt's encoding, as A1111)\n"
            "      --prompt-2 TEXT     SDXL: the second text encoder's prompt (diffusers'\n"
            "                          prompt_2) (default: the prompt)\n"
            "      --negative-2 TEXT   SDXL: the second encoder's negative prompt (default:\n"
            "                          the negative prompt)\n"
            "      --lora FILE[:S[:T]] apply a LoRA / LyCORIS .safetensors (kohya/A1111,\n"
            "                          diffusers/PEFT, LoHa, LoKr) at scale S (default 1;\n"
            "                          negative allowed) to the UNet and T (default S) to\n"
            "                          the text encoders; repeatable (up to 64). FILE may\n"
            "                          be a NAME of --lora-dir\n"
            "      --lora-dir DIR      where LoRA NAMEs are found: DIR/NAME.safetensors.\n"
            "                          With --weighting the prompt's AUTOMATIC1111 tags\n"
            "                          <lora:NAME>, <lora:NAME:S>, <lora:NAME:TE:UNET>\n"
            "                          (S for both; TE for the text encoders, UNET for\n"
            "                          the UNet, as A1111; <lyco:...> too) are LoRAs as\n"
            "                          --lora gives them, and leave the prompt; a NAME\n"
            "                          not in DIR is taken as a file path\n"
            "      --embedding FILE    load a textual-inversion embedding (.safetensors:\n"
            "                          A1111 emb_params, SDXL clip_l/clip_g, diffusers\n"
            "                          learned_embeds); its file name (or diffusers' token)\n"
            "                          in a prompt stands for its vectors; repeatable\n"
            "      --embeddings-dir DIR  load every .safetensors embedding in DIR\n"
            "      --refiner PATH      SDXL: a refiner checkpoint that takes over at\n"
            "                          --refiner-start (base + refiner in one run)\n"
            "      --refiner-start X   fraction of the schedule the base runs, 0..1\n"
            "                          exclusive (diffusers' denoising_end) (default: 0.8)\n"
            "      --original-size WxH SDXL micro-conditioning (default: the image size)\n"
            "      --target-size WxH   SDXL micro-conditioning (default: the image size)\n"
            "      --crop TOP,LEFT     SDXL crop conditioning in pixels (default: 0,0)\n"
            "      --aesthetic-score X SDXL refiner's conditioning (default: 6.0; the\n"
            "                          negative half: --negative-aesthetic-score, 2.5)\n"
            "      --steps N           sampling steps, 1..1000 (default: 20)\n"
            "      --cfg X             classifier-free guidance scale, 0..100; <= 1 turns it\n"
            "                          off (default: 7.5)\n"
            "      --preset NAME       recommended settings of a few-step model, for the\n"
            "                          options not given: turbo (SD-Turbo, SDXL-Turbo: 1\n"
            "                          step, --cfg 0, --spacing trailing, the checkpoint's\n"
            "                          sampler) or lcm (LCM / LCM-LoRA: --sampler lcm, 4\n"
            "                          steps, --cfg 1) (default: none)\n"
            "      --sampler NAME      diffusers or A1111 name: \"Euler\", \"Euler a\",\n"
            "                          \"DPM++ 2M Karras\", DDIMScheduler, ... (default: the\n"
            "                          checkpoint's scheduler, else Euler); an unknown name\n"
            "                          is an error that lists the valid ones\n"
            "      --schedule NAME     sigma schedule: default, discrete, karras (default:\n"
            "                          default, what the sampler name implies)\n"
            "      --spacing NAME      timestep spacing: default, leading, trailing,\n"
            "                          linspace (default: default, the checkpoint's)\n"
            "      --seed N            0..2^63-1; -1 is random (default: random, printed)\n"
            "      --rng NAME          cpu (torch's CPU generator) or philox (default: cpu)\n"
            "      --seed-mode MODE    batch: one generator draws the whole batch\n"
            "                          (diffusers); per-image: image i uses seed + i\n"
            "                          (AUTOMATIC1111) (default: batch)\n"
            "  -W, --width N           image width up to 4096, a multiple of the model's size\n"
            "                          multiple (64 for SD) (default: the model's default\n"
            "                          size, 512 for SD 1.x, 768 for SD 2.x-v, 1024 for\n"
            "                          SDXL; img2img: the\n"
            "                          init image's width rounded down to the multiple)\n"
            "  -H, --height N          image height, as --width\n"
            "  -n, --batch N           images to generate, 1..64 (default: 1)\n"
            "      --clip-skip N       1 = last text encoder layer, 2 = penultimate, ...,\n"
            "                          1..64 (A1111 meaning) (default: 1)\n"
            "      --weighting         parse AUTOMATIC1111's emphasis syntax: (word:1.3)\n"
            "                          (word) [word] \\( BREAK (default: prompts are taken\n"
            "                          literally, as diffusers does)\n"
            "      --init-image FILE   img2img: start from this PNG, JPEG or WebP (at most\n"
            "                          4096x4096 pixels)\n"
            "      --strength X        img2img: how much of the schedule is re-run, 0..1;\n"
            "                          1 ignores the image (default: 0.75)\n"
            "      --prediction NAME   epsilon or v_prediction (default: from the model)\n"
            "      --vae PATH          replace the checkpoint's VAE with this file or folder\n"
            "      --taesd PATH        TAESD decoder (folder or taesd_decoder.safetensors),\n"
            "                          for --preview and --decoder taesd\n"
            "      --decoder NAME      vae or taesd: the decoder of the final image; taesd\n"
            "                          is far cheaper and slightly softer, and needs\n"
            "                          --taesd (default: vae)\n"
            "      --preview FILE      write a TAESD preview of the images being generated\n"
            "                          to FILE (.png recommended) as the run goes; needs\n"
            "                          --taesd (default: none)\n"
            "      --preview-every N   steps between previews, 1..1000 (default: 5)\n"
            "  -o, --output FILE       output file; .png, .jpg, .jpeg or .webp picks the\n"
            "                          format. With --batch > 1, -1, -2, ... go before the\n"
            "                          extension (out.png: out-1.png, out-2.png)\n"
            "                          (default: diffuse-SEED.png in the current directory)\n"
            "      --quality N         JPEG/WebP quality 1..100, 101 = lossless WebP\n"
            "                          (default: 80; PNG is always lossless)\n"
            "      --precision NAME    f32, bf16 or int8: the arithmetic of the text\n"
            "                          encoder's, UNet's and VAE's linear layers and\n"
            "                          convolutions. bf16 needs AVX512-BF16, int8 needs\n"
            "                          AVX512-VNNI or AVX-VNNI; without them f32 is\n"
            "                          used, with a message (default: f32; README:\n"
            "                          speed and error)\n"
            "      --no-winograd       direct 3x3 convolutions instead of Winograd\n"
            "                          F(4x4,3x3) (slower; rounding ~1e-5 apart)\n"
            "      --estimate-memory   print the working memory this request needs (what\n"
            "                          `diffuse serve --max-memory` compares; the weights,\n"
            "                          memory-mapped, are not counted) and exit, generating\n"
            "                          and writing nothing\n"
            "  -t, --threads N         compute threads (default: one per CPU)\n"
            "  -q, --quiet             no progress or summary on stderr\n"
            "  -h, --help              this help\n"
            "\n"
            "Progress goes to stderr: a bar on a terminal, a line every ~10%% otherwise.\n"
            "Ctrl-C stops within about a second and writes nothing (exit 130); a second Ctrl-C\n"
            "exits at once.\n"
            "Exit status: 0 success, 1 failure (model, files, engine), 2 usage error,\n"
            "130 cancelled.\n",
            DF_DEFAULT_MODEL);
}

/* ------------------------------------------------------------------------ */
/* Option values                                                            */

static int parse_float(const char *option, const char *text, double min, double max, float *out)
{
    char *end = NULL;
    errno = 0;
    double value = text ? strtod(text, &end) : NAN;
    /* isfinite first: "nan" and "inf" parse, but no range holds them. */
    if (!text || !*text || *end || errno || !isfinite(value) || value < min || value > max) {
        fprintf(stderr, "diffuse: %s expects a number in [%g, %g], got '%s'\n", option, min, max,
                text ? text : "");
        return 2;
    }
    *out = (float)value;
    return 0;
}

/* "WxH" (SDXL sizes) or "TOP,LEFT" (the crop): two integers in [0, 65536]. */
static int parse_pair(const char *option, const char *text, char separator, int *first,
                      int *second)
{
    char *end = NULL;
    errno = 0;
    long a = strtol(text, &end, 10), b = -1;
    if (!errno && end != text && *end == separator) {
        const char *rest = end + 1;
        b = strtol(rest, &end, 10);
        if (end == rest || *end)
            b = -1;
    }
    if (errno || a < 0 || a > 65536 || b < 0 || b > 65536) {
        fprintf(stderr, "diffuse: %s expects two integers 0..65536 as A%cB, got '%s'\n", option,
                separator, text);
        return 2;
    }
    *first = (int)a;
    *second = (int)b;
    return 0;
}

static int parse_seed(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long value = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || value < -1) {
        fprintf(stderr, "diffuse: --seed expects an integer in [-1, %lld], got '%s'\n",
                (long long)INT64_MAX, text ? text : "");
        return 2;
    }
    *out = value;
    return 0;
}

/* One of `names` (NULL-terminated), or a usage error listing them. */
static int parse_choice(const char *option, const char *text, const char *const *names, int *out)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(text, names[i])) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "diffuse: %s expects one of", option);
    for (int i = 0; names[i]; i++)
        fprintf(stderr, "%s %s", i ? "," : "", names[i]);
    fprintf(stderr, "; got '%s'\n", text);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* Output files                                                             */

/* Output i of count: `base` itself for one image, else "-<i+1>" inserted
 * before the extension (the extension is known to exist: the format comes
 * from it). malloc'ed; NULL when out of memory. */
static char *output_path(const char *base, int index, int count)
{
    size_t length = strlen(base);
    char *path = malloc(length + 16);
    if (!path)
        return NULL;
    if (count <= 1) {
        memcpy(path, base, length + 1);
        return path;
    }
    const char *slash = strrchr(base, '/');
    const char *dot = strrchr(slash ? slash : base, '.');
    size_t stem = dot ? (size_t)(dot - base) : length;
    memcpy(path, base, stem);
    snprintf(path + stem, length + 16 - stem, "-%d%s", index + 1, dot ? dot : "");
    return path;
}

/* Can df_image_write put a file at `path`? It writes a temporary next to it
 * and renames it over, so try exactly that: create (and remove) such a
 * temporary. This catches a missing directory, no permission, a read-only
 * file system and a name that is too long, before any work is done. */
static int check_writable(const char *path)
{
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        fprintf(stderr, "diffuse generate: cannot write %s: it is a directory\n", path);
        return 1;
    }
    size_t length = strlen(path);
    char *probe = malloc(length + 16);
    if (!probe) {
        fprintf(stderr, "diffuse generate: out of memory\n");
        return 1;
    }
    memcpy(probe, path, length);
    memcpy(probe + length, ".tmp-XXXXXX", 12);
    int fd = mkstemp(probe);
    if (fd < 0) {
        fprintf(stderr, "diffuse generate: cannot write %s: %s\n", path, strerror(errno));
        free(probe);
        return 1;
    }
    close(fd);
    unlink(probe);
    free(probe);
    return 0;
}

/* The output's format from its extension, and the combinations that would
 * fail only when writing: usage errors now rather than after the work. */
static int check_output_format(const char *option, const char *path, int quality,
                               size_t prompt_bytes)
{
    df_error error = {0};
    df_image_format format;
    if (df_image_format_from_path(path, &format, &error)) {
        fprintf(stderr, "diffuse generate: %s %s\n", option, error.message);
        return 2;
    }
    if (format == DF_IMAGE_JPEG && quality == DF_IMAGE_QUALITY_LOSSLESS) {
        fprintf(stderr, "diffuse generate: %s: --quality 101 (lossless) is for WebP; JPEG "
                        "takes 1..100\n", path);
        return 2;
    }
    if (format == DF_IMAGE_JPEG && prompt_bytes > JPEG_PROMPT_BYTES_MAX) {
        fprintf(stderr, "diffuse generate: %s: the prompts (%zu bytes) do not fit in JPEG "
                        "metadata (64 KB of UTF-16); use .png or .webp\n", path, prompt_bytes);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Progress, previews and Ctrl-C                                            */

/* Set by the SIGINT handler, read by the engine's cancel check (polled
 * between blocks and kernel chunks), so a Ctrl-C stops within about a
 * second at any size. sig_atomic_t is all a handler may portably write. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

static int cancel_requested(void *user)
{
    (void)user;
    return interrupted;
}

typedef struct run_state {
    int show_progress;
    df_cli_progress bar;
    const char *preview_path;
    int preview_failed; /* warn once, then stop trying */
} run_state;

static void preview_warning(run_state *state, const char *message)
{
    if (state->show_progress)
        df_cli_progress_end(&state->bar);
    fprintf(stderr, "diffuse generate: warning: no more previews: %s\n", message);
    state->preview_failed = 1;
}

/* The preview images in one grid, as near square as the count allows, so a
 * batch of 64 stays within the writer's largest side; if even that is too
 * large, the first image alone. */
static void write_preview(run_state *state, const df_progress *progress)
{
    int count = progress->preview_count, width = progress->preview_width,
        height = progress->preview_height;
    if (count <= 0 || width <= 0 || height <= 0 || width > DF_IMAGE_MAX_SIDE ||
        height > DF_IMAGE_MAX_SIDE)
        return;
    int columns = 1;
    while (columns * columns < count)
        columns++;
    int rows = (count + columns - 1) / columns;
    if ((long long)width * columns > DF_IMAGE_MAX_SIDE ||
        (long long)height * rows > DF_IMAGE_MAX_SIDE)
        count = columns = rows = 1;
    df_error error = {0};
    df_image grid = {0};
    if (df_image_create(width * columns, height * rows, &grid, &error)) {
        preview_warning(state, error.message);
        return;
    }
    size_t row_bytes = (size_t)width * 3;
    for (int i = 0; i < count; i++) {
        const uint8_t *image = progress->preview + (size_t)i * row_bytes * (size_t)height;
        uint8_t *corner = grid.pixels + ((size_t)(i / columns) * (size_t)height * (size_t)grid.width +
                                         (size_t)(i % columns) * (size_t)width) * 3;
        for (int y = 0; y < height; y++)
            memcpy(corner + (size_t)y * (size_t)grid.width * 3, image + (size_t)y * row_bytes,
                   row_bytes);
    }
    if (df_image_write(state->preview_path, &grid, DF_IMAGE_QUALITY_DEFAULT, NULL, &error))
        preview_warning(state, error.message);
    df_image_free(&grid);
}

static int on_progress(void *user, const df_progress *progress)
{
    run_state *state = user;
    if (interrupted)
        return 1;
    if (state->show_progress)
        df_cli_progress_update(&state->bar, progress->step, progress->total,
                               progress->elapsed_seconds);
    if (progress->preview && state->preview_path && !state->preview_failed)
        write_preview(state, progress);
    return interrupted;
}

/* ------------------------------------------------------------------------ */

enum {
    OPT_NEGATIVE = 256, OPT_STEPS, OPT_CFG, OPT_SAMPLER, OPT_SCHEDULE, OPT_SPACING, OPT_SEED,
    OPT_RNG, OPT_SEED_MODE, OPT_CLIP_SKIP, OPT_WEIGHTING, OPT_INIT_IMAGE, OPT_STRENGTH,
    OPT_VAE, OPT_TAESD, OPT_PREVIEW, OPT_PREVIEW_EVERY, OPT_PREDICTION, OPT_QUALITY,
    OPT_ESTIMATE_MEMORY,
    OPT_DECODER,
    OPT_PRESET,
    OPT_PRECISION,
    OPT_NO_WINOGRAD,
    OPT_PROMPT_2, OPT_NEGATIVE_2, OPT_REFINER, OPT_REFINER_START, OPT_ORIGINAL_SIZE,
    OPT_TARGET_SIZE, OPT_CROP, OPT_AESTHETIC_SCORE, OPT_NEGATIVE_AESTHETIC_SCORE, OPT_LORA,
    OPT_LORA_DIR, OPT_EMBEDDING, OPT_EMBEDDINGS_DIR
};

#define MAX_LORAS 64

/* Every *.safetensors of DIR as an embedding (sorted, so a clash of two
 * names fails the same way every time). Non-zero after a message. */
static int load_embeddings_dir(df_model *model, const char *dir)
{
    struct dirent **entries = NULL;
    int count = scandir(dir, &entries, NULL, alphasort), failed = 0;
    if (count < 0) {
        fprintf(stderr, "diffuse generate: --embeddings-dir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < count; i++) {
        const char *name = entries[i]->d_name;
        size_t n = strlen(name);
        if (!failed && n > 12 && !strcmp(name + n - 12, ".safetensors") && name[0] != '.') {
            char path[4096];
            df_error error = {0};
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (df_model_load_embedding(model, path, NULL, &error)) {
                fprintf(stderr, "diffuse generate: --embeddings-dir: %s\n", error.message);
                failed = 1;
            }
        }
        free(entries[i]);
    }
    free(entries);
    return failed;
}

/* --lora FILE[:UNET[:TEXT]]: the scales after the last colons that parse
 * as numbers (a path may hold colons too). */
static int parse_lora(const char *text, df_lora_use *use, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s", text);
    float scales[2];
    int found = 0;
    for (int i = 0; i < 2; i++) {
        char *colon = strrchr(path, ':');
        char *end = NULL;
        if (!colon)
            break;
        errno = 0;
        double value = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || errno)
            break;
        if (!isfinite(value) || value < -100 || value > 100) {
            fprintf(stderr, "diffuse: --lora %s: scale %s is out of range (-100..100)\n", text,
                    colon + 1);
            return 2;
        }
        scales[found++] = (float)value;
        *colon = 0;
    }
    if (!*path) {
        fprintf(stderr, "diffuse: --lora expects FILE[:SCALE[:TEXT_SCALE]], got '%s'\n", text);
        return 2;
    }
    use->path = path;
    /* scales were read right to left */
    use->unet_scale = found == 2 ? scales[1] : found == 1 ? scales[0] : 1.0f;
    use->text_scale = found >= 1 ? scales[0] : 1.0f;
    return 0;
}

/* A LoRA named NAME: DIR/NAME.safetensors when --lora-dir has it, else
 * NAME itself when it is a file (else DIR's name, for the message). 0, or
 * -1 when neither exists. */
static int find_lora(const char *dir, const char *name, char *path, size_t size)
{
    struct stat info;
    if (dir && !strchr(name, '/')) {
        snprintf(path, size, "%s/%s.safetensors", dir, name);
        if (!stat(path, &info) && S_ISREG(info.st_mode))
            return 0;
    }
    if (!stat(name, &info) && S_ISREG(info.st_mode)) {
        snprintf(path, size, "%s", name);
        return 0;
    }
    return -1;
}

/* --lora NAMEs of --lora-dir, then (with --weighting) the prompt's tags,
 * appended to `loras` as files; the prompt loses its tags (parsed->prompt
 * is the new one, owned by `parsed`). 0, or 2 after saying what is
 * wrong. */
static int resolve_loras(const char *dir, df_generate_request *request, df_lora_use *loras,
                         char (*paths)[4096], int *count, int max, df_lora_prompt *parsed)
{
    for (int i = 0; i < *count; i++) {
        struct stat info;
        char name[4096]; /* loras[i].path is paths[i]: find_lora writes there */
        snprintf(name, sizeof name, "%s", loras[i].path);
        if (dir && stat(name, &info) && find_lora(dir, name, paths[i], 4096))
            snprintf(paths[i], 4096, "%s", name); /* the engine says it is missing */
        loras[i].path = paths[i];
    }
    if (!(request->prompt_flags & DF_PROMPT_WEIGHTING)) {
        if (df_lora_prompt_has_tags(request->prompt))
            fprintf(stderr, "diffuse generate: note: the prompt's <lora:...> tags are taken as "
                            "text without --weighting\n");
        return 0;
    }
    df_error error = {0};
    if (df_lora_prompt_parse(request->prompt, parsed, &error)) {
        fprintf(stderr, "diffuse generate: -p: %s\n", error.message);
        return 2;
    }
    for (int i = 0; i < parsed->count; i++) {
        const df_lora_prompt_tag *tag = &parsed->tags[i];
        if (*count == max) {
            fprintf(stderr, "diffuse generate: more than %d LoRAs (--lora and prompt tags)\n",
                    max);
            return 2;
        }
        if (fabs(tag->unet_scale) > 100 || fabs(tag->text_scale) > 100) {
            fprintf(stderr, "diffuse generate: -p: LoRA '%s': scale %g / %g is out of range "
                            "(-100..100)\n", tag->name, tag->text_scale, tag->unet_scale);
            return 2;
        }
        if (find_lora(dir, tag->name, paths[*count], 4096)) {
            if (dir)
                fprintf(stderr, "diffuse generate: -p: LoRA '%s': no %s/%s.safetensors, and "
                                "no file %s\n", tag->name, dir, tag->name, tag->name);
            else
                fprintf(stderr, "diffuse generate: -p: LoRA '%s': no such file (give "
                                "--lora-dir DIR to find NAME.safetensors there)\n", tag->name);
            return 2;
        }
        loras[*count] = (df_lora_use){paths[*count], (float)tag->unet_scale,
                                      (float)tag->text_scale};
        (*count)++;
    }
    if (parsed->count)
        request->prompt = parsed->prompt;
    return 0;
}

int df_cli_generate(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'},
        {"prompt", required_argument, 0, 'p'},
        {"negative", required_argument, 0, OPT_NEGATIVE},
        {"steps", required_argument, 0, OPT_STEPS},
        {"cfg", required_argument, 0, OPT_CFG},
        {"sampler", required_argument, 0, OPT_SAMPLER},
        {"schedule", required_argument, 0, OPT_SCHEDULE},
        {"spacing", required_argument, 0, OPT_SPACING},
        {"seed", required_argument, 0, OPT_SEED},
        {"rng", required_argument, 0, OPT_RNG},
        {"seed-mode", required_argument, 0, OPT_SEED_MODE},
        {"width", required_argument, 0, 'W'},
        {"height", required_argument, 0, 'H'},
        {"batch", required_argument, 0, 'n'},
        {"clip-skip", required_argument, 0, OPT_CLIP_SKIP},
        {"weighting", no_argument, 0, OPT_WEIGHTING},
        {"init-image", required_argument, 0, OPT_INIT_IMAGE},
        {"strength", required_argument, 0, OPT_STRENGTH},
        {"vae", required_argument, 0, OPT_VAE},
        {"taesd", required_argument, 0, OPT_TAESD},
        {"preview", required_argument, 0, OPT_PREVIEW},
        {"preview-every", required_argument, 0, OPT_PREVIEW_EVERY},
        {"prediction", required_argument, 0, OPT_PREDICTION},
        {"quality", required_argument, 0, OPT_QUALITY},
        {"estimate-memory", no_argument, 0, OPT_ESTIMATE_MEMORY},
        {"decoder", required_argument, 0, OPT_DECODER},
        {"preset", required_argument, 0, OPT_PRESET},
        {"precision", required_argument, 0, OPT_PRECISION},
        {"no-winograd", no_argument, 0, OPT_NO_WINOGRAD},
        {"prompt-2", required_argument, 0, OPT_PROMPT_2},
        {"negative-2", required_argument, 0, OPT_NEGATIVE_2},
        {"refiner", required_argument, 0, OPT_REFINER},
        {"refiner-start", required_argument, 0, OPT_REFINER_START},
        {"original-size", required_argument, 0, OPT_ORIGINAL_SIZE},
        {"target-size", required_argument, 0, OPT_TARGET_SIZE},
        {"crop", required_argument, 0, OPT_CROP},
        {"aesthetic-score", required_argument, 0, OPT_AESTHETIC_SCORE},
        {"negative-aesthetic-score", required_argument, 0, OPT_NEGATIVE_AESTHETIC_SCORE},
        {"lora", required_argument, 0, OPT_LORA},
        {"lora-dir", required_argument, 0, OPT_LORA_DIR},
        {"embedding", required_argument, 0, OPT_EMBEDDING},
        {"embeddings-dir", required_argument, 0, OPT_EMBEDDINGS_DIR},
        {"output", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    static const char *const rng_names[] = {"cpu", "philox", NULL};
    static const char *const seed_mode_names[] = {"batch", "per-image", NULL};
    static const char *const prediction_names[] = {"epsilon", "v_prediction", NULL};
    static const char *const decoder_names[] = {"vae", "taesd", NULL};
    static const char *const precision_names[] = {"f32", "bf16", "int8", NULL};
    const df_preset *preset = NULL;
    unsigned preset_keep = 0; /* what the user set, which the preset leaves alone */

    df_generate_request request;
    df_generate_request_init(&request);
    const char *model_path = df_cli_default_model(), *output = NULL, *init_path = NULL,
               *vae_path = NULL, *taesd_path = NULL, *preview_path = NULL,
               *refiner_path = NULL;
    int refiner_start_given = 0;
    static df_lora_use loras[MAX_LORAS];
    static char lora_paths[MAX_LORAS][4096];
    int lora_count = 0;
    const char *lora_dir = NULL;
    df_lora_prompt lora_prompt = {0}; /* the prompt's tags (--weighting) */
    const char *embeddings[MAX_LORAS], *embeddings_dir = NULL;
    int embedding_count = 0;
    long threads = 0, width = 0, height = 0, batch = 1, steps = 20, clip_skip = 1,
         quality = DF_IMAGE_QUALITY_DEFAULT, preview_every = 5;
    int quiet = 0, strength_given = 0, choice = 0, estimate_only = 0;
    int64_t seed = -1;

    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "m:p:W:H:n:o:t:qh", options, NULL)) != -1) {
        switch (option) {
        case 'm': model_path = optarg; break;
        case 'p': request.prompt = optarg; break;
        case OPT_NEGATIVE: request.negative_prompt = optarg; break;
        case OPT_SAMPLER: request.sampler = optarg; break;
        case OPT_SCHEDULE: request.schedule = optarg; break;
        case OPT_SPACING: request.spacing = optarg; break;
        case OPT_WEIGHTING: request.prompt_flags |= DF_PROMPT_WEIGHTING; break;
        case OPT_INIT_IMAGE: init_path = optarg; break;
        case OPT_VAE: vae_path = optarg; break;
        case OPT_TAESD: taesd_path = optarg; break;
        case OPT_PREVIEW: preview_path = optarg; break;
        case OPT_ESTIMATE_MEMORY: estimate_only = 1; break;
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case OPT_STEPS:
            if (df_cli_parse_int("--steps", optarg, 1, 1000, &steps))
                return 2;
            preset_keep |= DF_PRESET_KEEP_STEPS;
            break;
        case OPT_CFG:
            if (parse_float("--cfg", optarg, 0, 100, &request.guidance_scale))
                return 2;
            preset_keep |= DF_PRESET_KEEP_GUIDANCE;
            break;
        case OPT_DECODER:
            if (parse_choice("--decoder", optarg, decoder_names, &choice))
                return 2;
            request.decoder = decoder_names[choice];
            break;
        case OPT_PRESET: {
            df_error preset_error = {0};
            if (df_preset_find(optarg, &preset, &preset_error)) {
                fprintf(stderr, "diffuse generate: --%s\n", preset_error.message);
                return 2;
            }
            break;
        }
        case OPT_SEED:
            if (parse_seed(optarg, &seed))
                return 2;
            break;
        case OPT_RNG:
            if (parse_choice("--rng", optarg, rng_names, &choice))
                return 2;
            request.rng = rng_names[choice];
            break;
        case OPT_SEED_MODE:
            if (parse_choice("--seed-mode", optarg, seed_mode_names, &choice))
                return 2;
            request.seed_mode = choice ? DF_SEED_PER_IMAGE : DF_SEED_BATCH;
            break;
        case OPT_NO_WINOGRAD: df_set_winograd(0); break;
        case OPT_PROMPT_2: request.prompt_2 = optarg; break;
        case OPT_EMBEDDING:
            if (embedding_count == MAX_LORAS) {
                fprintf(stderr, "diffuse: at most %d --embedding\n", MAX_LORAS);
                return 2;
            }
            embeddings[embedding_count++] = optarg;
            break;
        case OPT_EMBEDDINGS_DIR: embeddings_dir = optarg; break;
        case OPT_LORA:
            if (lora_count == MAX_LORAS) {
                fprintf(stderr, "diffuse: at most %d --lora\n", MAX_LORAS);
                return 2;
            }
            if (parse_lora(optarg, &loras[lora_count], lora_paths[lora_count],
                           sizeof lora_paths[lora_count]))
                return 2;
            lora_count++;
            break;
        case OPT_LORA_DIR: lora_dir = optarg; break;
        case OPT_NEGATIVE_2: request.negative_prompt_2 = optarg; break;
        case OPT_REFINER: refiner_path = optarg; break;
        case OPT_REFINER_START:
            if (parse_float("--refiner-start", optarg, 0.001, 0.999, &request.refiner_start))
                return 2;
            refiner_start_given = 1;
            break;
        case OPT_ORIGINAL_SIZE:
            if (parse_pair("--original-size", optarg, 'x', &request.original_width,
                           &request.original_height))
                return 2;
            break;
        case OPT_TARGET_SIZE:
            if (parse_pair("--target-size", optarg, 'x', &request.target_width,
                           &request.target_height))
                return 2;
            break;
        case OPT_CROP:
            if (parse_pair("--crop", optarg, ',', &request.crop_top, &request.crop_left))
                return 2;
            break;
        case OPT_AESTHETIC_SCORE:
            if (parse_float("--aesthetic-score", optarg, -1000, 1000, &request.aesthetic_score))
                return 2;
            break;
        case OPT_NEGATIVE_AESTHETIC_SCORE:
            if (parse_float("--negative-aesthetic-score", optarg, -1000, 1000,
                            &request.negative_aesthetic_score))
                return 2;
            break;
        case OPT_PRECISION:
            if (parse_choice("--precision", optarg, precision_names, &choice))
                return 2;
            request.precision = precision_names[choice];
            break;
        case OPT_PREDICTION:
            if (parse_choice("--prediction", optarg, prediction_names, &choice))
                return 2;
            request.prediction = prediction_names[choice];
            break;
        case 'W':
            if (df_cli_parse_int("--width", optarg, 1, 4096, &width))
                return 2;
            break;
        case 'H':
            if (df_cli_parse_int("--height", optarg, 1, 4096, &height))
                return 2;
            break;
        case 'n':
            if (df_cli_parse_int("--batch", optarg, 1, 64, &batch))
                return 2;
            break;
        case OPT_CLIP_SKIP:
            if (df_cli_parse_int("--clip-skip", optarg, 1, 64, &clip_skip))
                return 2;
            break;
        case OPT_STRENGTH:
            if (parse_float("--strength", optarg, 0, 1, &request.strength))
                return 2;
            strength_given = 1;
            break;
        case OPT_PREVIEW_EVERY:
            if (df_cli_parse_int("--preview-every", optarg, 1, 1000, &preview_every))
                return 2;
            break;
        case OPT_QUALITY:
            if (df_cli_parse_int("--quality", optarg, 1, 101, &quality))
                return 2;
            break;
        case 't':
            if (df_cli_parse_int("--threads", optarg, 0, 1024, &threads))
                return 2;
            break;
        default: usage(stderr); return 2;
        }
    }
    /* `diffuse generate "a cat"` is too natural a typo of -p to refuse. */
    if (!request.prompt && optind == argc - 1)
        request.prompt = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "diffuse generate: unexpected argument '%s' (give the prompt with -p)\n",
                argv[optind]);
        return 2;
    }
    if (!request.prompt) {
        fprintf(stderr, "diffuse generate: give a prompt with -p (\"\" is the empty prompt)\n");
        usage(stderr);
        return 2;
    }
    if (preview_path && !taesd_path) {
        fprintf(stderr, "diffuse generate: --preview needs a TAESD decoder (--taesd PATH)\n");
        return 2;
    }
    if (request.decoder && !strcmp(request.decoder, "taesd") && !taesd_path) {
        fprintf(stderr, "diffuse generate: --decoder taesd needs a TAESD decoder (--taesd PATH: "
                        "a diffusers AutoencoderTiny folder or taesd_decoder.safetensors)\n");
        return 2;
    }
    if (refiner_start_given && !refiner_path) {
        fprintf(stderr, "diffuse generate: --refiner-start needs --refiner PATH\n");
        return 2;
    }
    if (strength_given && !init_path) {
        fprintf(stderr, "diffuse generate: --strength applies to img2img; give --init-image\n");
        return 2;
    }
    struct stat lora_dir_info;
    if (lora_dir && (stat(lora_dir, &lora_dir_info) || !S_ISDIR(lora_dir_info.st_mode))) {
        fprintf(stderr, "diffuse generate: --lora-dir %s: not a directory\n", lora_dir);
        return 2;
    }
    if (seed < 0)
        seed = df_random_seed();

    /* Every output name, checked before anything is loaded. */
    char default_output[64];
    snprintf(default_output, sizeof default_output, "diffuse-%lld.png", (long long)seed);
    const char *base = output ? output : default_output;
    size_t prompt_bytes =
        strlen(request.prompt) + (request.negative_prompt ? strlen(request.negative_prompt) : 0);
    int status = check_output_format("-o", base, (int)quality, prompt_bytes);
    if (!status && preview_path)
        status = check_output_format("--preview", preview_path, DF_IMAGE_QUALITY_DEFAULT, 0);
    if (status)
        return status;
    char **paths = calloc((size_t)batch, sizeof *paths);
    if (!paths) {
        fprintf(stderr, "diffuse generate: out of memory\n");
        return 1;
    }
    int exit_code = 1;
    df_error error = {0};
    df_runtime *runtime = NULL;
    df_model *model = NULL, *refiner = NULL;
    df_image init = {0};
    df_generate_result result = {0};
    struct sigaction previous_action;
    int handler_installed = 0;
    run_state state = {.show_progress = !quiet, .preview_path = preview_path};
    df_cli_progress_init(&state.bar, stderr, isatty(fileno(stderr)), NULL);
    /* Before anything is loaded: a bad tag or name is a usage error. */
    if ((exit_code = resolve_loras(lora_dir, &request, loras, lora_paths, &lora_count,
                                   MAX_LORAS, &lora_prompt)))
        goto done;
    exit_code = 1;

    for (long i = 0; i < batch && !estimate_only; i++) {
        paths[i] = output_path(base, (int)i, (int)batch);
        if (!paths[i]) {
            fprintf(stderr, "diffuse generate: out of memory\n");
            goto done;
        }
        if (check_writable(paths[i]))
            goto done;
    }
    if (preview_path && !estimate_only && check_writable(preview_path))
        goto done;

    if (init_path) {
        if (df_image_read(init_path, INIT_MAX_PIXELS, &init, &error)) {
            fprintf(stderr, "diffuse generate: init image: %s\n", error.message);
            goto done;
        }
        request.init_pixels = init.pixels;
        request.init_width = init.width;
        request.init_height = init.height;
    }

    /* Ctrl-C from here on cancels cleanly; SA_RESETHAND puts the default
     * action back after the first, so a second Ctrl-C ends the process at
     * once (a stuck or slow step cannot hold the terminal hostage). */
    interrupted = 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    handler_installed = sigaction(SIGINT, &action, &previous_action) == 0;

    if (df_runtime_create((int)threads, &runtime, &error) ||
        df_model_open(runtime, model_path, &model, &error)) {
        fprintf(stderr, "diffuse generate: %s\n", error.message);
        goto done;
    }
    if (vae_path && df_model_load_vae(model, vae_path, &error)) {
        fprintf(stderr, "diffuse generate: --vae: %s\n", error.message);
        goto done;
    }
    if (taesd_path && df_model_load_taesd(model, taesd_path, &error)) {
        fprintf(stderr, "diffuse generate: --taesd: %s\n", error.message);
        goto done;
    }
    for (int i = 0; i < embedding_count; i++)
        if (df_model_load_embedding(model, embeddings[i], NULL, &error)) {
            fprintf(stderr, "diffuse generate: --embedding: %s\n", error.message);
            goto done;
        }
    if (embeddings_dir && load_embeddings_dir(model, embeddings_dir))
        goto done;
    if (refiner_path) {
        if (df_model_open(runtime, refiner_path, &refiner, &error) ||
            (taesd_path && df_model_load_taesd(refiner, taesd_path, &error))) {
            fprintf(stderr, "diffuse generate: --refiner: %s\n", error.message);
            goto done;
        }
        request.refiner = refiner;
    }

    /* The size: what was asked, else the init image's rounded down to the
     * model's multiple (as the engine would), else the model's default. The
     * multiple is the model's, so it is checked only now. */
    int multiple = df_model_size_multiple(model);
    if (multiple > 0) {
        /* The lower bound is the model's too: one multiple (64 for SD). */
        const char *name = NULL;
        long bad = 0;
        if (width && (width < multiple || width % multiple))
            name = "width", bad = width;
        else if (height && (height < multiple || height % multiple))
            name = "height", bad = height;
        if (name) {
            fprintf(stderr, "diffuse generate: --%s %ld is not a multiple of %d (this model's "
                            "size multiple; %d..4096)\n", name, bad, multiple, multiple);
            exit_code = 2;
            goto done;
        }
        if (init_path) {
            if (!width)
                width = init.width / multiple * multiple;
            if (!height)
                height = init.height / multiple * multiple;
            if (!width || !height) {
                fprintf(stderr, "diffuse generate: %s: %dx%d is smaller than %d pixels on a side; "
                                "give --width and --height\n", init_path, init.width,
                        init.height, multiple);
                goto done;
            }
        }
    }
    int default_size = df_model_default_size(model);
    if (!width && default_size > 0)
        width = default_size;
    if (!height && default_size > 0)
        height = default_size;

    request.width = (int)width;
    request.height = (int)height;
    request.steps = (int)steps;
    request.seed = seed;
    request.batch = (int)batch;
    request.clip_skip = (int)clip_skip;
    request.loras = loras;
    request.lora_count = lora_count;
    /* After the user's values are in: the preset fills only the others. */
    df_preset_apply(preset, preset_keep, &request);
    request.preview_every = preview_path ? (int)preview_every : 0;
    request.progress = on_progress;
    request.progress_user = &state;
    request.cancel = cancel_requested;

    if (estimate_only) {
        size_t bytes = 0;
        if (df_model_estimate_memory(model, &request, &bytes, &error)) {
            fprintf(stderr, "diffuse generate: %s\n", error.message);
            goto done;
        }
        printf("%zu bytes (%.2f GiB) for %dx%d, batch %d, %s seeds\n", bytes,
               (double)bytes / (1 << 30), request.width, request.height, request.batch,
               request.seed_mode == DF_SEED_PER_IMAGE ? "per-image" : "batch");
        exit_code = 0;
        goto done;
    }

    df_status generated = interrupted ? DF_ERR_CANCELLED
                                      : df_model_generate(model, &request, &result, &error);
    if (state.show_progress)
        df_cli_progress_end(&state.bar);
    /* A Ctrl-C that lands after the last step still means "stop": nothing
     * is written. */
    if (generated == DF_ERR_CANCELLED || interrupted) {
        fprintf(stderr, "diffuse generate: cancelled\n");
        exit_code = EXIT_CANCELLED;
        goto done;
    }
    if (generated) {
        fprintf(stderr, "diffuse generate: %s\n", error.message);
        goto done;
    }
    if (result.count != batch || !result.pixels) {
        fprintf(stderr, "diffuse generate: the engine returned %d image(s), expected %ld\n",
                result.count, batch);
        goto done;
    }

    size_t image_bytes = (size_t)result.width * (size_t)result.height * 3;
    for (int i = 0; i < result.count; i++) {
        df_image image = {result.width, result.height, result.pixels + (size_t)i * image_bytes};
        const char *parameters = result.infotexts ? result.infotexts[i] : NULL;
        if (df_image_write(paths[i], &image, (int)quality, parameters, &error)) {
            fprintf(stderr, "diffuse generate: %s\n", error.message);
            goto done;
        }
        printf("%s  seed %lld\n", paths[i], (long long)(result.seeds ? result.seeds[i] : seed));
    }
    fflush(stdout);
    if (!quiet)
        fprintf(stderr, "generated %d image(s) of %dx%d in %.2f s\n", result.count, result.width,
                result.height, result.seconds);
    if (!quiet && lora_count)
        fprintf(stderr, "applied %d LoRA(s) in %.3f s\n", lora_count, result.lora_seconds);
    exit_code = 0;
done:
    if (handler_installed)
        sigaction(SIGINT, &previous_action, NULL);
    df_generate_result_free(&result);
    df_image_free(&init);
    df_model_free(refiner);
    df_model_free(model);
    df_runtime_free(runtime);
    for (long i = 0; i < batch; i++)
        free(paths[i]);
    free(paths);
    df_lora_prompt_free(&lora_prompt);
    return exit_code;
}
