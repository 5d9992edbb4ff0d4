package messaging

import (
	"slices"
	"strings"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// InboxPrefix is a namespace's request inbox prefix (nats.go's
// CustomInboxPrefix). Nobody is granted _INBOX.>: in a shared account it
// reads every team's replies.
func InboxPrefix(namespace string) string { return "_INBOX_" + namespace }

// Own is a namespace's own subject space.
func Own(namespace string) string { return namespace + ".>" }

// validSubject: non-empty tokens, > only last, no whitespace.
func validSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		if t == "" || (t == ">" && i != len(toks)-1) || (len(t) > 1 && strings.ContainsAny(t, "*>")) {
			return false
		}
	}
	return true
}

// Within reports whether every subject subject matches is also matched by
// pattern: a literal token is covered by the same literal or *, a * only by
// *, and > covers one or more tokens of anything.
func Within(subject, pattern string) bool {
	s, p := strings.Split(subject, "."), strings.Split(pattern, ".")
	for i, pt := range p {
		if pt == ">" {
			return len(s) > i
		}
		if i >= len(s) {
			return false
		}
		st := s[i]
		switch {
		case st == ">":
			return false
		case pt == "*":
		case st == "*" || st != pt:
			return false
		}
	}
	return len(s) == len(p)
}

// Grant checks a user's permissions against its account's subject space for
// its namespace — <namespace>.> and the account's shared subjects — and
// returns the subjects its JWT grants: the allow lists (the namespace's own
// space when left empty, never everything) with the namespace's inbox
// prefix added to subscribe. Denies may name anything: they only narrow.
func Grant(namespace string, acct platformv1.NatsAccountSpec, p platformv1.NatsPermissions) (platformv1.NatsGranted, error) {
	space := append([]string{Own(namespace)}, acct.SharedSubjects...)
	inbox := InboxPrefix(namespace) + ".>"
	check := func(field string, subjects []string, extra ...string) error {
		for _, s := range subjects {
			if !validSubject(s) {
				return notAllowed("%s: %q is not a NATS subject (dot-separated tokens; * and > only as whole tokens, > last)", field, s)
			}
			ok := slices.ContainsFunc(append(space, extra...), func(pat string) bool { return Within(s, pat) })
			if !ok {
				return notAllowed("%s: %q is outside namespace %s's subject space (%s); ask the platform team to list it in the NatsAccount's spec.sharedSubjects",
					field, s, namespace, strings.Join(space, ", "))
			}
		}
		return nil
	}
	for _, d := range [][2]any{{"spec.permissions.pub.deny", p.Pub.Deny}, {"spec.permissions.sub.deny", p.Sub.Deny}} {
		for _, s := range d[1].([]string) {
			if !validSubject(s) {
				return platformv1.NatsGranted{}, notAllowed("%s: %q is not a NATS subject", d[0], s)
			}
		}
	}
	if err := check("spec.permissions.pub.allow", p.Pub.Allow); err != nil {
		return platformv1.NatsGranted{}, err
	}
	if err := check("spec.permissions.sub.allow", p.Sub.Allow, inbox); err != nil {
		return platformv1.NatsGranted{}, err
	}
	g := platformv1.NatsGranted{InboxPrefix: InboxPrefix(namespace)}
	g.Publish = orOwn(p.Pub.Allow, namespace)
	g.Subscribe = orOwn(p.Sub.Allow, namespace)
	if !slices.Contains(g.Subscribe, inbox) {
		g.Subscribe = append(g.Subscribe, inbox)
	}
	return g, nil
}

func orOwn(allow []string, namespace string) []string {
	if len(allow) == 0 {
		return []string{Own(namespace)}
	}
	out := slices.Clone(allow)
	slices.Sort(out)
	return out
}
