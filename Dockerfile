# Builds function zips and the dependencies layer inside AWS's Lambda build image, so compiled
# dependencies match the runtime exactly. Only ./build.sh --docker runs it: it stages the small build
# context this expects, then checks and import-tests the zips that come out (tools/build.py).
# The zip step is the same tools/lambda_zip.py the docker-less path runs, so the layout is the same.

ARG PYTHON_VERSION=3.12
ARG IMAGE_TAG=latest-x86_64

FROM public.ecr.aws/sam/build-python${PYTHON_VERSION}:${IMAGE_TAG} AS dependencies
WORKDIR /build
COPY requirements.txt ./
# Only wheels, like the docker-less path, so both install the same files; pip's download cache
# lives in a BuildKit cache mount, outside the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip install --no-compile --disable-pip-version-check --only-binary=:all: \
        --target /build/dependencies -r requirements.txt

FROM dependencies AS package
# FUNCTIONS: space-separated function folders (producers/error_source ...); LAYER=1 adds the layer.
ARG FUNCTIONS=""
ARG LAYER=0
ARG RUNTIME=python3.12
ARG ARCH=x86_64
ARG MAX_ZIP_BYTES=10000000
COPY . /src
# hadolint ignore=SC2086
RUN layer_flag=""; if [ "$LAYER" = "1" ]; then layer_flag="--layer"; fi; \
    python /src/tools/lambda_zip.py --root /src --deps /build/dependencies --out-dir /out \
        --runtime "$RUNTIME" --arch "$ARCH" --builder docker --max-bytes "$MAX_ZIP_BYTES" \
        $layer_flag $FUNCTIONS

# Only the zips and their manifests leave the build: --target artifact --output type=local,dest=DIR
FROM scratch AS artifact
COPY --from=package /out/ /
