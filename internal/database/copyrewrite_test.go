package database

import "testing"

func TestRewriteSchemaPointsTheSourcesNamesAtTheTarget(t *testing.T) {
	const from, to = "staging_shop", "preview_shop_pr1"
	for _, tc := range []struct{ in, want string }{
		{"nextval('staging_shop.orders_id_seq'::regclass)", `nextval('"preview_shop_pr1".orders_id_seq'::regclass)`},
		{`nextval('"staging_shop"."Odd""seq"'::regclass)`, `nextval('"preview_shop_pr1"."Odd""seq"'::regclass)`},
		{"CHECK (staging_shop.probe(id))", `CHECK ("preview_shop_pr1".probe(id))`},
		{`CHECK ("staging_shop".probe(id))`, `CHECK ("preview_shop_pr1".probe(id))`},
		{"'ok'::staging_shop.mood", `'ok'::"preview_shop_pr1".mood`},
		{"FOREIGN KEY (customer) REFERENCES staging_shop.customers(id)", `FOREIGN KEY (customer) REFERENCES "preview_shop_pr1".customers(id)`},
		{"CREATE INDEX i ON staging_shop.t USING btree (id) WHERE (staging_shop.f(id) AND (x OPERATOR(staging_shop.===) 1))",
			`CREATE INDEX i ON "preview_shop_pr1".t USING btree (id) WHERE ("preview_shop_pr1".f(id) AND (x OPERATOR("preview_shop_pr1".===) 1))`},
		{"'staging_shop'::regnamespace", `'"preview_shop_pr1"'::regnamespace`},
		// Text that only contains the name stays as it is.
		{"CHECK ((note <> 'staging_shop.x'::text))", "CHECK ((note <> 'staging_shop.x'::text))"},
		{`CHECK (("staging_shop.x" > 0))`, `CHECK (("staging_shop.x" > 0))`},
		{"CHECK ((my_staging_shop.x > 0))", "CHECK ((my_staging_shop.x > 0))"},
		{"CHECK (((c).staging_shop.x > 0))", "CHECK (((c).staging_shop.x > 0))"},
		{"CHECK ((staging_shop > 0))", "CHECK ((staging_shop > 0))"},
		{`CHECK ((v <> E'it''s \' staging_shop.x'))`, `CHECK ((v <> E'it''s \' staging_shop.x'))`},
		{"other.f(1.5e3, staging_shopx.y)", "other.f(1.5e3, staging_shopx.y)"},
		// Unterminated input does not panic.
		{`"staging_shop`, `"staging_shop`},
		{`'staging_shop.`, `'staging_shop.`},
	} {
		if got := rewriteSchema(tc.in, from, to); got != tc.want {
			t.Errorf("rewriteSchema(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}
