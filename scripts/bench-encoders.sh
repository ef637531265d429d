#!/usr/bin/env bash
# Cost of encoding the overlay video: CPU time per 1280x720 frame, bitrate and SSIM of each
# --video-quality setting (an ffmpeg child fed raw BGR frames, as the video sink does) and of
# OpenCV's VideoWriter (avc1 at x264's default preset, and mp4v), on the frames of a real clip.
#   bash scripts/bench-encoders.sh [CLIP]      (needs a built project: npm run build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
clip="${1:-$root/../shared/data/videos/udacity_vehicledet_pr2_test_small1.mp4}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$clip")
ffmpeg -v error -i "$clip" -f rawvideo -pix_fmt bgr24 "$work/raw.bgr"
frames=$(( $(stat -c %s "$work/raw.bgr") / (${size%x*} * ${size#*x} * 3) ))
ssim() { ffmpeg -v info -i "$1" -f rawvideo -pix_fmt bgr24 -s "$size" -i "$work/raw.bgr" -lavfi ssim -f null - 2>&1 | grep -o 'All:[0-9.]*' | cut -d: -f2; }
report() { # name file cpu_seconds
  local bytes; bytes=$(stat -c %s "$2")
  printf '| %s | %.1f | %d | %s |\n' "$1" "$(echo "$3 * 1000 / $frames" | bc -l)" $((bytes * 8 * 25 / frames / 1000)) "$(ssim "$2")"
}
echo "$frames frames of $(basename "$clip") ($size)"
echo '| encoder | CPU ms / frame | kbit/s at 25 fps | SSIM to the source |'
echo '|---|---|---|---|'
for q in "fast ultrafast 23" "balanced superfast 23" "small veryfast 26" "sharp veryfast 18"; do
  set -- $q
  /usr/bin/time -f '%U %S' -o "$work/t" ffmpeg -v error -f rawvideo -pix_fmt bgr24 -video_size "$size" -framerate 25 -i "$work/raw.bgr" -c:v libx264 -preset "$2" -crf "$3" -pix_fmt yuv420p -y "$work/$1.mp4"
  report "--video-quality $1 (libx264 $2 crf $3)" "$work/$1.mp4" "$(awk '{print $1 + $2}' "$work/t")"
done
for codec in avc1 mp4v; do
  cpu=$(cd "$root" && node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    import { cv } from './dist/src/util/cv.js';
    const [w, h] = '$size'.split('x').map(Number), raw = readFileSync('$work/raw.bgr'), n = raw.length / (w * h * 3);
    const mats = Array.from({ length: n }, (_, i) => new cv.Mat(raw.subarray(i * w * h * 3, (i + 1) * w * h * 3), h, w, cv.CV_8UC3));
    const c0 = process.cpuUsage();
    const wr = new cv.VideoWriter('$work/cv-$codec.mp4', cv.VideoWriter.fourcc('$codec'), 25, new cv.Size(w, h), true);
    for (const m of mats) await wr.writeAsync(m);
    wr.release();
    const c = process.cpuUsage(c0);
    console.log((c.user + c.system) / 1e6);")
  report "OpenCV VideoWriter $codec" "$work/cv-$codec.mp4" "$cpu"
done
