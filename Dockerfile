# Multi-stage build: a static binary on a minimal, non-root image.
# Used by `gcloud run deploy --source .`. The templ output (*_templ.go) is
# committed, so the build needs no templ CLI.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same flags as the static-binary test in cmd/chat (build_test.go).
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o /out/chat ./cmd/chat

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chat /chat
USER nonroot:nonroot
# Cloud Run sets PORT; 8080 is the default for `docker run`.
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/chat"]
