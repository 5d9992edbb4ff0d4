# The operator image. Built by the platform's CI (no Docker engine runs on
# the development machines; see docs/OPERATOR.md).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /plattr-operator ./cmd/operator

FROM gcr.io/distroless/static:nonroot
COPY --from=build /plattr-operator /plattr-operator
USER 65532:65532
ENTRYPOINT ["/plattr-operator"]
