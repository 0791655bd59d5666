// Package codesize checks the code base's own shape: no function longer
// than MaxFunctionLines unless its doc comment says it reads better whole
// (issue #23). It ships nothing; it only measures.
package codesize

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// MaxFunctionLines is the longest a function may be, from its func line to
// its closing brace.
const MaxFunctionLines = 80

// wholeRE is the doc comment's reason for a longer function: a table of
// cases or rows that is clearer in one piece.
var wholeRE = regexp.MustCompile(`reads (better|best) whole`)

// root is the module's root, from this package's folder.
const root = "../../.."

func TestNoLongFunctions(t *testing.T) {
	fset := token.NewFileSet()
	var long []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "cdk.out", "testdata", "out":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if lines > MaxFunctionLines && (fn.Doc == nil || !wholeRE.MatchString(strings.Join(strings.Fields(fn.Doc.Text()), " "))) {
				rel, _ := filepath.Rel(root, path)
				long = append(long, rel+": "+fn.Name.Name+" ("+strconv.Itoa(lines)+" lines)")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d Go files under %s: not the module root?", files, root)
	}
	sort.Strings(long)
	for _, l := range long {
		t.Errorf("%s: over %d lines; split it, or say in its doc comment why it reads better whole", l, MaxFunctionLines)
	}
}
