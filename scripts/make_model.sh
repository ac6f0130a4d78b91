#!/usr/bin/env bash
# The shipped model's recipe (`make model`): fine-tune the base encoder on the
# train splits of movies and kslimon together (epoch selection on their
# validation splits), blend in a TF-IDF logistic regression over the same
# tokens (share, temperature and thresholds on validation), export the page's
# bundle with its manifest, then score the f32 folder and the bundle on each
# dataset's own test split. Seeds are fixed; SOURCE_DATE_EPOCH fixes the
# bundle's date.
set -euo pipefail
CARGO=${CARGO:-cargo}
DATA=${DATA:-../shared/data}
OUT=${OUT:-models/plotgenre}
BUNDLE=www/models/model.plotgenre
started=$SECONDS
# The training flags, shared with the Makefile's single-dataset recipes.
read -ra RECIPE < "$(dirname "$0")/recipe.flags"
plotgenre() { "$CARGO" run --quiet --release --features train -- "$@"; }

"$CARGO" build --quiet --release --features train
rm -rf "$OUT"
DATASETS=(--format movies --data "$DATA/movies/movies.csv"
    --format kslimon --data "$DATA/kslimon/Movies_data.csv")
plotgenre train "${RECIPE[@]}" --out "$OUT" "${DATASETS[@]}"
plotgenre lexical --model "$OUT" "${DATASETS[@]}"
mkdir -p www/models
plotgenre export --model "$OUT" --out "$BUNDLE" --manifest www/models/manifest.json
for dataset in movies:movies/movies.csv kslimon:kslimon/Movies_data.csv; do
    name=${dataset%%:*}
    for model in "$OUT" "$BUNDLE"; do
        kind=$([ -d "$model" ] && echo f32 || echo bundle)
        echo "== $name test, $kind ($model)"
        plotgenre eval --model "$model" --format "$name" --data "$DATA/${dataset#*:}" \
            --metrics-out "$OUT/test-$name-$kind.json"
    done
done
echo "make model: wall time $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
