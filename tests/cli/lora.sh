# lora.sh — `diffuse generate` with LoRAs: --lora FILE[:S[:T]], --lora-dir
# DIR with NAMEs, and (with --weighting) AUTOMATIC1111's <lora:NAME:...>
# prompt tags; bad values exit 2 with a message before anything is loaded.
# The LoRA files are the committed tiny SD 1.x fixtures,
# tests/fixtures/lora/.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$last_stdout" "$last_stderr"' EXIT
sd1=tests/fixtures/tiny-sd1
gen() { "$DIFFUSE" generate -m $sd1 --steps 3 --seed 11 -q "$@"; }

fixtures=tests/fixtures/lora
# A LoRA directory of copies, under names a prompt tag can use.
loras=$tmp/loras
mkdir "$loras"
cp "$fixtures/sd1_lora_kohya.safetensors" "$loras/style.safetensors"
cp "$fixtures/sd1_loha.safetensors" "$loras/loha.safetensors"
cp "$fixtures/sdxl_lora_kohya.safetensors" "$loras/xl.safetensors"

# --lora with scales: each scale makes another image; 0 is the base image.
expect "base" 0 "" -- gen -p "a cat" -o "$tmp/base.png"
expect "--lora FILE" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors" -o "$tmp/s1.png"
expect "--lora FILE:1 is the default" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors:1" -o "$tmp/s1b.png"
expect "same image" 0 "" -- cmp -s "$tmp/s1.png" "$tmp/s1b.png"
expect "the LoRA changes the image" 1 "" -- cmp -s "$tmp/base.png" "$tmp/s1.png"
expect "--lora FILE:0.5" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors:0.5" -o "$tmp/s05.png"
expect "another scale, another image" 1 "" -- cmp -s "$tmp/s05.png" "$tmp/s1.png"
expect "--lora FILE:0:0" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors:0:0" -o "$tmp/s0.png"
expect "scale 0 is the base image" 0 "" -- cmp -s "$tmp/s0.png" "$tmp/base.png"
expect "--lora FILE:0.5:1 (UNet, text)" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors:0.5:1" -o "$tmp/s051.png"
expect "two scales differ from one" 1 "" -- cmp -s "$tmp/s051.png" "$tmp/s05.png"
expect "two LoRAs" 0 "" -- gen -p "a cat" --lora "$loras/style.safetensors:0.5" --lora "$loras/loha.safetensors:0.8" -o "$tmp/two.png"

# --lora-dir: a NAME instead of a file.
expect "--lora NAME with --lora-dir" 0 "" -- gen -p "a cat" --lora-dir "$loras" --lora style:0.5 -o "$tmp/n05.png"
expect "a name is its file" 0 "" -- cmp -s "$tmp/n05.png" "$tmp/s05.png"

# Prompt tags with --weighting: the tag leaves the prompt (the infotext's
# prompt is the rest, "a cat "), and the image is --lora's. A1111's order:
# <lora:NAME:TE:UNET>.
expect "<lora:NAME:S>" 0 "" -- gen -p "a cat <lora:style:0.5>" --weighting --lora-dir "$loras" -o "$tmp/t05.png"
expect "--lora, same prompt text" 0 "" -- gen -p "a cat " --weighting --lora "$loras/style.safetensors:0.5" -o "$tmp/l05.png"
expect "tag equals --lora" 0 "" -- cmp -s "$tmp/t05.png" "$tmp/l05.png"
expect "<lora:NAME:TE:UNET>" 0 "" -- gen -p "a cat <lora:style:1:0.5>" --weighting --lora-dir "$loras" -o "$tmp/t_te1_unet05.png"
expect "--lora FILE:UNET:TE" 0 "" -- gen -p "a cat " --weighting --lora "$loras/style.safetensors:0.5:1" -o "$tmp/l_unet05_te1.png"
expect "tag TE:UNET equals --lora UNET:TE" 0 "" -- cmp -s "$tmp/t_te1_unet05.png" "$tmp/l_unet05_te1.png"
expect "<lyco:...> is <lora:...>" 0 "" -- gen -p "a cat <lyco:style:0.5>" --weighting --lora-dir "$loras" -o "$tmp/y05.png"
expect "lyco equals lora" 0 "" -- cmp -s "$tmp/y05.png" "$tmp/t05.png"
expect "named te= unet=" 0 "" -- gen -p "a cat <lora:style:unet=0.5:te=1>" --weighting --lora-dir "$loras" -o "$tmp/named.png"
expect "named equals positional" 0 "" -- cmp -s "$tmp/named.png" "$tmp/t_te1_unet05.png"
expect "tag with a path, no --lora-dir" 0 "" -- sh -c "cd '$loras' && '$DIFFUSE' generate -m '$PWD/$sd1' --steps 3 --seed 11 -q -p 'a cat <lora:style.safetensors:0.5>' --weighting -o '$tmp/p05.png'"
expect "tag and --lora together" 0 "" -- gen -p "a cat <lora:loha:0.8>" --weighting --lora-dir "$loras" --lora style:0.5 -o "$tmp/two_tag.png"
expect "tags without --weighting are text" 0 "taken as text without --weighting" -- gen -p "a cat <lora:style:0.5>" --lora-dir "$loras" -o "$tmp/text.png"
expect "so the image is not the LoRA's" 1 "" -- cmp -s "$tmp/text.png" "$tmp/t05.png"

# Bad values: exit 2, saying what is wrong, before anything is loaded.
expect "bad scale" 2 "scale" -- gen -p "a cat" --lora "$loras/style.safetensors:200" -o "$tmp/x.png"
expect "empty file" 2 "FILE" -- gen -p "a cat" --lora ":0.5" -o "$tmp/x.png"
expect "missing file" 1 "nope" -- gen -p "a cat" --lora "$tmp/nope.safetensors" -o "$tmp/x.png"
expect "--lora-dir not a directory" 2 "not a directory" -- gen -p "a cat" --lora-dir "$tmp/none" -o "$tmp/x.png"
expect "tag: unknown name" 2 "LoRA 'nope'" -- gen -p "a cat <lora:nope:0.5>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "tag: bad number" 2 "<lora:style:abc>.*not a finite number" -- gen -p "a cat <lora:style:abc>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "tag: empty name" 2 "name is empty" -- gen -p "a cat <lora::0.5>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "tag: scale out of range" 2 "out of range" -- gen -p "a cat <lora:style:500>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "tag: a third number (dyn)" 2 "dyn" -- gen -p "a cat <lora:style:1:1:8>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "tag: unknown named argument" 2 "unknown argument" -- gen -p "a cat <lora:style:x=1>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
expect "nothing written on a usage error" 1 "" -- test -e "$tmp/x.png"
# A LoRA of another family: the engine's message, exit 1.
expect "SDXL LoRA on SD 1.x" 1 "another model" -- gen -p "a cat <lora:xl>" --weighting --lora-dir "$loras" -o "$tmp/x.png"
finish
