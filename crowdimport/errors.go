package crowdimport

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidInput is wrapped by every error about the input itself (malformed XML, unknown hash
// format, dangling membership, duplicate names, ...), as opposed to store or network failures.
var ErrInvalidInput = errors.New("invalid input")

// Problem is one thing wrong with the input: where, which element, what.
type Problem struct {
	Line    int    // 1-based line of the element in a backup; 0 for REST input
	Where   string // for REST input: the resource it came from
	Element string // e.g. "membership", "user"
	Message string
}

func (p Problem) String() string {
	loc := p.Where
	if p.Line > 0 {
		loc = fmt.Sprintf("line %d", p.Line)
	}
	if p.Element != "" {
		return fmt.Sprintf("%s: <%s>: %s", loc, p.Element, p.Message)
	}
	return fmt.Sprintf("%s: %s", loc, p.Message)
}

// maxProblems bounds the problems one validation collects; the count goes on.
const maxProblems = 50

// ValidationError lists what is wrong with the input. Nothing was written.
type ValidationError struct {
	Source   string
	Problems []Problem // the first maxProblems
	Total    int       // all problems found
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "crowdimport: %s is not importable (%d problem", e.Source, e.Total)
	if e.Total != 1 {
		b.WriteString("s")
	}
	b.WriteString("; nothing was written)")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.Total > len(e.Problems) {
		fmt.Fprintf(&b, "\n  ... and %d more", e.Total-len(e.Problems))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidInput }

// problems collects Problems up to maxProblems.
type problems struct {
	list  []Problem
	total int
}

func (ps *problems) add(p pos, element, format string, args ...any) {
	ps.total++
	if len(ps.list) < maxProblems {
		ps.list = append(ps.list, Problem{Line: p.Line, Where: p.Where, Element: element, Message: fmt.Sprintf(format, args...)})
	}
}

func (ps *problems) err(source string) error {
	if ps.total == 0 {
		return nil
	}
	return &ValidationError{Source: source, Problems: ps.list, Total: ps.total}
}

// syntaxError is a fatal problem reading the input (malformed or truncated XML): reading stops.
type syntaxError struct {
	Problem
}

func (e *syntaxError) Error() string { return e.Problem.String() }
func (e *syntaxError) Unwrap() error { return ErrInvalidInput }
