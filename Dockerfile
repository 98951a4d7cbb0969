# syntax=docker/dockerfile:1
# ssm-serve in two stages: a build image compiles with the project's own install script and
# build command (the same as CI: tools/install_deps.sh, tools/build.sh); a runtime image ships
# only the binaries, the shared libraries they load and the demo model.
#
#   docker build -t ssm-serve .                      # CUDA 13 on Ubuntu 24.04 (the default)
#   docker build -t ssm-serve:cpu \
#     --build-arg BUILD_IMAGE=debian:12 --build-arg RUNTIME_IMAGE=debian:12-slim \
#     --build-arg CUDA=OFF --build-arg DEVICE=cpu .  # CPU only, Debian 12
#   docker run --gpus all -p 50051:50051 -p 9090:9090 ssm-serve
ARG BUILD_IMAGE=nvidia/cuda:13.0.1-devel-ubuntu24.04
ARG RUNTIME_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04

FROM ${BUILD_IMAGE} AS build
ARG CUDA=ON
WORKDIR /src
# The dependency layer first, so a source change does not reinstall packages.
COPY tools/install_deps.sh tools/
RUN bash tools/install_deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN SSM_BUILD_TARGETS="ssm-server ssm-client ssm-run $([ "$CUDA" = ON ] && echo ssm_cuda_backend)" \
      bash tools/build.sh -DSSM_ENABLE_CUDA=${CUDA} -DSSM_BUILD_TESTS=OFF \
 && bash tools/collect_runtime.sh build /opt/ssm \
 && cp -r models /opt/ssm/models

FROM ${RUNTIME_IMAGE} AS runtime
ARG DEVICE=cuda
COPY --from=build /opt/ssm /opt/ssm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ssm
ENV PATH=/opt/ssm/bin:$PATH \
    LD_LIBRARY_PATH=/opt/ssm/lib \
    SSM_CUDA_BACKEND=/opt/ssm/lib/libssm_cuda_backend.so \
    SSM_DEVICE=${DEVICE} \
    SSM_MODEL=/opt/ssm/models/tinystories-mamba
USER ssm
# gRPC, then Prometheus /metrics.
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["ssm-client", "--target=localhost:50051", "health"]
# Mount a model folder and set SSM_MODEL (or pass --model) to serve another model.
ENTRYPOINT ["/bin/sh", "-c", "exec ssm-server --model=\"$SSM_MODEL\" --device=\"$SSM_DEVICE\" --port=50051 --metrics-port=9090 \"$@\"", "ssm-server"]
