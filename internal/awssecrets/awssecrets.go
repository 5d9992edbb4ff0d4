// Package awssecrets reads the PostgreSQL admin credentials from AWS Secrets
// Manager (DB_SECRET_ARN, as the team guide documents) and keeps them fresh:
// the value is cached, re-read every refresh interval, and re-read at once
// when the database refuses it, so a rotated secret is picked up without a
// restart. AWS credentials come from the SDK's default chain: IRSA's web
// identity token on EKS, the environment elsewhere; AWS_ENDPOINT_URL points
// the client at another endpoint (LocalStack, the tests' fake).
package awssecrets

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Credentials are the fields Plattr reads from the secret: the JSON of an
// RDS-managed secret ("username", "password", and optionally "port" and
// "dbname"; other fields are ignored).
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Port     int    `json:"port,omitempty"`
	DBName   string `json:"dbname,omitempty"`
}

// Source hands out the secret's current value.
type Source struct {
	ARN     string
	Refresh time.Duration // re-read after this long [5m]
	Timeout time.Duration // bounds one read, retries included [30s]
	client  *secretsmanager.Client
	now     func() time.Time

	mu      sync.Mutex
	cached  Credentials
	version string
	readAt  time.Time
	stale   bool
}

// New builds a Source for arn in region (empty: the ARN's region).
func New(ctx context.Context, arn, region string, refresh time.Duration) (*Source, error) {
	if region == "" {
		region = RegionOf(arn)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for Secrets Manager: %w", err)
	}
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	return &Source{ARN: arn, Refresh: refresh, client: secretsmanager.NewFromConfig(cfg), now: time.Now}, nil
}

// RegionOf returns the region in a Secrets Manager ARN
// (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), or "".
func RegionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "secretsmanager" {
		return parts[3]
	}
	return ""
}

// Get returns the credentials, reading the secret when the cached value is
// older than Refresh or was marked stale.
func (s *Source) Get(ctx context.Context) (Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.readAt.IsZero() && !s.stale && s.now().Sub(s.readAt) < s.Refresh {
		return s.cached, nil
	}
	// The SDK's client has no overall timeout: a Secrets Manager that
	// stalls would hold the lock, and every new admin connection with it.
	rctx, cancel := context.WithTimeout(ctx, cmp.Or(s.Timeout, 30*time.Second))
	out, err := s.client.GetSecretValue(rctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN)})
	cancel()
	if err != nil {
		if !s.readAt.IsZero() {
			// Secrets Manager is down but we hold a value: keep using it,
			// the database decides whether it still works.
			return s.cached, nil
		}
		return Credentials{}, fmt.Errorf("reading DB_SECRET_ARN from AWS Secrets Manager: %w (check the ARN, AWS_REGION and the operator's IAM role: it needs secretsmanager:GetSecretValue)", err)
	}
	if out.SecretString == nil {
		return Credentials{}, errors.New("DB_SECRET_ARN holds binary data: want a JSON secret with username and password")
	}
	var c Credentials
	if err := json.Unmarshal([]byte(*out.SecretString), &c); err != nil || c.Username == "" || c.Password == "" {
		// The error is not passed on: it could quote the password.
		return Credentials{}, errors.New("DB_SECRET_ARN is not a JSON secret with username and password (the format of an RDS-managed secret)")
	}
	s.cached, s.readAt, s.stale = c, s.now(), false
	s.version = aws.ToString(out.VersionId)
	return c, nil
}

// Version is the secret version last read (for logs: never the value).
func (s *Source) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Invalidate makes the next Get read the secret again: the database
// refused the cached password, so it has probably been rotated.
func (s *Source) Invalidate() {
	s.mu.Lock()
	s.stale = true
	s.mu.Unlock()
}
