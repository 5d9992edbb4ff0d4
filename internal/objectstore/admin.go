package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// adminClient speaks versitygw's admin API: PATCH requests signed with
// SigV4 (service "s3") by the root account, XML bodies. See versitygw's
// "Admin API" documentation and its `versitygw admin` command.
type adminClient struct {
	endpoint, region, access, secret string
	http                             *http.Client
}

// account is versitygw's auth.Account as its admin API marshals it.
type account struct {
	XMLName xml.Name `xml:"Account"`
	Access  string   `xml:"Access"`
	Secret  string   `xml:"Secret"`
	Role    string   `xml:"Role"`
}

type listedAccount struct {
	Access string `xml:"Access"`
	Secret string `xml:"Secret"`
	Role   string `xml:"Role"`
}

type listUsersResult struct {
	Accounts []listedAccount `xml:"Accounts"`
}

type mutableProps struct {
	XMLName xml.Name `xml:"MutableProps"`
	Secret  string   `xml:"Secret"`
}

// roleUser may use only the buckets it owns (or is granted); it cannot
// create buckets, so buckets are created by the admin with it as owner.
const roleUser = "user"

func (a *adminClient) do(ctx context.Context, path string, query url.Values, headers map[string]string, body []byte) ([]byte, error) {
	u := a.endpoint + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	signed := signer.SignV4(*req, a.access, a.secret, "", a.region)
	resp, err := a.http.Do(signed)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return out, &adminError{status: resp.StatusCode, body: out}
	}
	return out, nil
}

type adminError struct {
	status int
	body   []byte
}

func (e *adminError) Error() string {
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(e.body, &x) == nil && x.Code != "" {
		return fmt.Sprintf("admin API: %d %s: %s", e.status, x.Code, x.Message)
	}
	return fmt.Sprintf("admin API: HTTP %d", e.status)
}

// users lists every account, with its secret.
func (a *adminClient) users(ctx context.Context) (map[string]listedAccount, error) {
	out, err := a.do(ctx, "/list-users", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	var res listUsersResult
	if err := xml.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("admin API: reading list-users: %w", err)
	}
	m := make(map[string]listedAccount, len(res.Accounts))
	for _, acc := range res.Accounts {
		m[acc.Access] = acc
	}
	return m, nil
}

func (a *adminClient) createUser(ctx context.Context, access, secret string) error {
	body, err := xml.Marshal(account{Access: access, Secret: secret, Role: roleUser})
	if err != nil {
		return err
	}
	_, err = a.do(ctx, "/create-user", nil, nil, body)
	return err
}

func (a *adminClient) setSecret(ctx context.Context, access, secret string) error {
	body, err := xml.Marshal(mutableProps{Secret: secret})
	if err != nil {
		return err
	}
	_, err = a.do(ctx, "/update-user", url.Values{"access": {access}}, nil, body)
	return err
}

func (a *adminClient) deleteUser(ctx context.Context, access string) error {
	_, err := a.do(ctx, "/delete-user", url.Values{"access": {access}}, nil, nil)
	return err
}

func (a *adminClient) createBucket(ctx context.Context, bucket, owner string) error {
	_, err := a.do(ctx, "/"+url.PathEscape(bucket)+"/create", nil, map[string]string{"x-vgw-owner": owner}, nil)
	return err
}

func (a *adminClient) changeBucketOwner(ctx context.Context, bucket, owner string) error {
	_, err := a.do(ctx, "/change-bucket-owner/", url.Values{"bucket": {bucket}, "owner": {owner}}, nil, nil)
	return err
}

type bucketOwner struct {
	Name  string `xml:"Name"`
	Owner string `xml:"Owner"`
}

// bucketOwners maps every bucket to its owner's access key.
func (a *adminClient) bucketOwners(ctx context.Context) (map[string]string, error) {
	out, err := a.do(ctx, "/list-buckets", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	var res struct {
		Buckets []bucketOwner `xml:"Buckets"`
	}
	if err := xml.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("admin API: reading list-buckets: %w", err)
	}
	m := make(map[string]string, len(res.Buckets))
	for _, b := range res.Buckets {
		m[b.Name] = b.Owner
	}
	return m, nil
}
