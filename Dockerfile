# The Atelier Products API as a container image: one binary on a slim base.
# Build:  docker build -t atelier .
# Run:    docker run -p 3000:3000 -e DATABASE_URL=postgres://... atelier
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same command the README uses for a release build.
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/atelier /usr/local/bin/atelier
ENV ROCKET_ADDRESS=0.0.0.0 \
    ROCKET_PORT=3000
EXPOSE 3000
USER nobody
CMD ["atelier", "serve"]
