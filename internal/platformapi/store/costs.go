package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// CostSample is one app's requested resources at one time.
type CostSample struct {
	At              time.Time
	App             AppKey
	Tenant          string
	CPUCores        float64
	MemoryGiB       float64
	IntervalSeconds float64
}

// InsertCostSamples records samples; a slot already sampled is kept.
func (s *Store) InsertCostSamples(ctx context.Context, samples []CostSample) error {
	batch := &pgx.Batch{}
	for _, c := range samples {
		batch.Queue(`INSERT INTO cost_samples (at, namespace, app, tenant, cpu_cores, memory_gib, interval_seconds)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			c.At, c.App.Namespace, c.App.Name, c.Tenant, c.CPUCores, c.MemoryGiB, c.IntervalSeconds)
	}
	return s.Pool.SendBatch(ctx, batch).Close()
}

// Usage is an app's resource-hours over a period.
type Usage struct {
	Tenant         string
	App            AppKey
	CPUCoreHours   float64
	MemoryGiBHours float64
	// Retired is the usage of deleted apps of this name (ForgetApp).
	Retired bool
}

// UsageBetween sums each app's samples taken in [from, to), those of
// deleted apps of the same name apart (Retired).
func (s *Store) UsageBetween(ctx context.Context, from, to time.Time) ([]Usage, error) {
	rows, err := s.Pool.Query(ctx, `SELECT tenant, namespace, app, retired,
			sum(cpu_cores * interval_seconds) / 3600, sum(memory_gib * interval_seconds) / 3600
		FROM cost_samples WHERE at >= $1 AND at < $2
		GROUP BY tenant, namespace, app, retired ORDER BY tenant, namespace, app, retired`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.Tenant, &u.App.Namespace, &u.App.Name, &u.Retired, &u.CPUCoreHours, &u.MemoryGiBHours); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
