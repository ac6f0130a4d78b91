#!/usr/bin/env bash
# The shipped model's recipe (`make model`): fine-tune the base encoder on the
# train splits of movies, kslimon and extra together (extra's rajugc rows
# sampled down; every choice scored on the unseen-title validation rows),
# blend in a TF-IDF logistic regression over the same tokens (C, share,
# temperature and thresholds on validation), export the page's bundle with
# its manifest (its decisions tuned again on its own validation
# probabilities; it measures itself on the test split), then score
# the f32 folder and the bundle on every test split: whole, unseen-title and
# per source. Seeds are fixed; SOURCE_DATE_EPOCH fixes the bundle's date.
set -euo pipefail
CARGO=${CARGO:-cargo}
DATA=${DATA:-../shared/data}
OUT=${OUT:-models/plotgenre}
BUNDLE=www/models/model.plotgenre
started=$SECONDS
# The training flags (seed, epochs), kept apart for the docs to cite.
read -ra RECIPE < "$(dirname "$0")/recipe.flags"
DATASETS=(--format movies --data "$DATA/movies/movies.csv"
    --format kslimon --data "$DATA/kslimon/Movies_data.csv"
    --format extra --data "$DATA/extra/extra.csv"
    --train-share rajugc_imdb_by_genre=0.3)
plotgenre() { "$CARGO" run --quiet --release --features train -- "$@"; }

"$CARGO" build --quiet --release --features train
rm -rf "$OUT"
plotgenre train "${RECIPE[@]}" --out "$OUT" "${DATASETS[@]}"
plotgenre lexical --model "$OUT" "${DATASETS[@]}"
mkdir -p www/models
plotgenre export --model "$OUT" --out "$BUNDLE" --manifest www/models/manifest.json "${DATASETS[@]}"
for model in "$OUT" "$BUNDLE"; do
    kind=$([ -d "$model" ] && echo f32 || echo bundle)
    echo "== test, $kind ($model)"
    plotgenre eval --model "$model" "${DATASETS[@]}" --metrics-out "$OUT/test-$kind.json"
done
echo "make model: wall time $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
