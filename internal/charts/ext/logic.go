package ext

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// showIf is JSON logic (jsonlogic.com), as the crate evaluates it. This is
// the part of it a form's visibility needs: var, ==, ===, !=, !==, !, !!,
// and, or, if, in, <, <=, >, >=. A schema using another operator is refused
// when parsed, so a form never shows differently here than in Platz
// without saying so.
var logicOps = []string{"var", "==", "===", "!=", "!==", "!", "!!", "and", "or", "if", "in", "<", "<=", ">", ">="}

// checkLogic refuses a rule with an operator outside logicOps.
func checkLogic(raw json.RawMessage) error {
	var rule any
	if err := json.Unmarshal(raw, &rule); err != nil {
		return err
	}
	return walkLogic(rule)
}

func walkLogic(rule any) error {
	switch r := rule.(type) {
	case map[string]any:
		if len(r) != 1 {
			return fmt.Errorf("an operation is an object of one key, got %d keys", len(r))
		}
		for op, args := range r {
			if !slices.Contains(logicOps, op) {
				return fmt.Errorf("operator %q is not supported (supported: %s)", op, strings.Join(logicOps, " "))
			}
			if list, ok := args.([]any); ok {
				for _, a := range list {
					if err := walkLogic(a); err != nil {
						return err
					}
				}
			} else if err := walkLogic(args); err != nil {
				return err
			}
		}
	case []any:
		for _, a := range r {
			if err := walkLogic(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	}
	return true
}

func evalLogic(rule any, data map[string]any) (any, error) {
	m, ok := rule.(map[string]any)
	if !ok {
		if list, ok := rule.([]any); ok {
			out := make([]any, len(list))
			for i, item := range list {
				v, err := evalLogic(item, data)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		}
		return rule, nil
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("an operation is an object of one key")
	}
	var op string
	var raw any
	for k, v := range m {
		op, raw = k, v
	}
	argList, isList := raw.([]any)
	if !isList {
		argList = []any{raw}
	}
	if op == "var" {
		name, _ := argList[0].(string)
		v, ok := data[name]
		if !ok && len(argList) > 1 {
			return argList[1], nil
		}
		return v, nil
	}
	// and, or and if are lazy; the rest evaluate every argument.
	switch op {
	case "and", "or":
		var last any
		for _, a := range argList {
			v, err := evalLogic(a, data)
			if err != nil {
				return nil, err
			}
			last = v
			if (op == "and") != truthy(v) {
				return v, nil
			}
		}
		return last, nil
	case "if":
		for i := 0; i+1 < len(argList); i += 2 {
			c, err := evalLogic(argList[i], data)
			if err != nil {
				return nil, err
			}
			if truthy(c) {
				return evalLogic(argList[i+1], data)
			}
		}
		if len(argList)%2 == 1 {
			return evalLogic(argList[len(argList)-1], data)
		}
		return nil, nil
	}
	args := make([]any, len(argList))
	for i, a := range argList {
		v, err := evalLogic(a, data)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	arg := func(i int) any {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	switch op {
	case "==", "===":
		return reflect.DeepEqual(arg(0), arg(1)), nil
	case "!=", "!==":
		return !reflect.DeepEqual(arg(0), arg(1)), nil
	case "!":
		return !truthy(arg(0)), nil
	case "!!":
		return truthy(arg(0)), nil
	case "in":
		switch hay := arg(1).(type) {
		case []any:
			return slices.ContainsFunc(hay, func(x any) bool { return reflect.DeepEqual(x, arg(0)) }), nil
		case string:
			s, ok := arg(0).(string)
			return ok && strings.Contains(hay, s), nil
		}
		return false, nil
	case "<", "<=", ">", ">=":
		a, aok := arg(0).(float64)
		b, bok := arg(1).(float64)
		if !aok || !bok {
			return false, nil
		}
		ops := map[string]bool{"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
		return ops[op], nil
	}
	return nil, fmt.Errorf("operator %q is not supported", op)
}
