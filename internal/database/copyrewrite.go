package database

import "strings"

// rewriteSchema points a definition PostgreSQL printed (pg_get_expr,
// pg_get_constraintdef, pg_get_indexdef, with search_path = pg_catalog, so
// every object outside pg_catalog is schema-qualified) at schema to where
// it named schema from: names qualified by from — bare or quoted — and
// reg* literals naming from's objects ('from.seq'::regclass, as in
// nextval). String literals and quoted identifiers are otherwise left
// alone, so text that merely contains from's name does not change. The
// result runs as the target's role only: whatever it names, it gets no
// more than that role's rights.
func rewriteSchema(def, from, to string) string {
	var b strings.Builder
	toQ := q(to)
	prevDot := func() bool {
		s := b.String()
		return len(s) > 0 && s[len(s)-1] == '.'
	}
	for i := 0; i < len(def); {
		c := def[i]
		switch {
		case c == '\'':
			end := stringEnd(def, i, false)
			lit := def[i:end]
			if strings.HasPrefix(def[end:], "::reg") {
				lit = rewriteRegLiteral(lit, from, toQ)
			}
			b.WriteString(lit)
			i = end
		case c == '"':
			end := quotedEnd(def, i)
			if strings.ReplaceAll(def[i+1:max(end-1, i+1)], `""`, `"`) == from && end < len(def) && def[end] == '.' && !prevDot() {
				b.WriteString(toQ)
			} else {
				b.WriteString(def[i:end])
			}
			i = end
		case identStart(c):
			end := i + 1
			for end < len(def) && identChar(def[end]) {
				end++
			}
			word := def[i:end]
			switch {
			case (word == "E" || word == "e") && end < len(def) && def[end] == '\'':
				// An escape string: kept as it is.
				strEnd := stringEnd(def, end, true)
				b.WriteString(def[i:strEnd])
				end = strEnd
			case word == from && end < len(def) && def[end] == '.' && !prevDot():
				b.WriteString(toQ)
			default:
				b.WriteString(word)
			}
			i = end
		case c >= '0' && c <= '9':
			// A number: 1.5, 1e10 — never a name.
			end := i + 1
			for end < len(def) && (identChar(def[end]) || def[end] == '.') {
				end++
			}
			b.WriteString(def[i:end])
			i = end
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// stringEnd is the index after the string literal starting at the quote
// def[i]; backslashes escape in an escape string.
func stringEnd(def string, i int, escapes bool) int {
	for j := i + 1; j < len(def); j++ {
		switch {
		case escapes && def[j] == '\\':
			j++
		case def[j] == '\'':
			if j+1 < len(def) && def[j+1] == '\'' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(def)
}

// quotedEnd is the index after the quoted identifier starting at def[i].
func quotedEnd(def string, i int) int {
	for j := i + 1; j < len(def); j++ {
		if def[j] == '"' {
			if j+1 < len(def) && def[j+1] == '"' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(def)
}

// rewriteRegLiteral rewrites a literal cast to a reg* type — 'from.name',
// '"from".name', or 'from' alone (regnamespace) — to name schema toQ.
func rewriteRegLiteral(lit, from, toQ string) string {
	if len(lit) < 2 || lit[len(lit)-1] != '\'' {
		return lit
	}
	content := strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	quotedFrom := `"` + strings.ReplaceAll(from, `"`, `""`) + `"`
	var rest string
	switch {
	case content == from || content == quotedFrom:
		rest = ""
	case strings.HasPrefix(content, from+"."):
		rest = content[len(from):]
	case strings.HasPrefix(content, quotedFrom+"."):
		rest = content[len(quotedFrom):]
	default:
		return lit
	}
	return "'" + strings.ReplaceAll(toQ+rest, "'", "''") + "'"
}

func identStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func identChar(c byte) bool { return identStart(c) || c >= '0' && c <= '9' || c == '$' }
