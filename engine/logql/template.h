/* Parser for the Go text/template language as used by LogQL `line_format` and `label_format`
 * (`{{ .status | ToUpper }}`, `{{ if eq .level "error" }}E{{ else }}-{{ end }}`).
 *
 * Supported: text and {{actions}} with trim markers ({{- x -}}), comments (a C-style comment right
 * inside the delimiters), pipelines `a | b c`, fields `.a.b`, `.`, variables `$x` (declared with :=
 * or =, `$` always exists), function calls with arguments, parenthesized pipelines with field
 * chains `(x).a`, literals (strings "..." and `...`, numbers in Go syntax, characters 'a',
 * true/false, nil), if / else if / else, range (with `$i, $e :=`, break and continue), with / else
 * with, define, block and template. Function names must be known to Loki (text/template builtins,
 * Loki's functions and the sprig subset Loki enables) — an unknown name is a parse error, as in Go.
 *
 * Errors mirror Go's messages: "template: line:1: function \"nosuchfunc\" not defined". The tree
 * lives in the caller's arena and is immutable; an executor walks it with Go semantics. */
#ifndef STRATA_ENGINE_LOGQL_TEMPLATE_H
#define STRATA_ENGINE_LOGQL_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"

struct logql_tmpl_node;
struct logql_tmpl_pipe;

struct logql_tmpl_list {
    struct logql_tmpl_node **nodes;
    size_t n;
};

enum logql_tmpl_arg_kind {
    LOGQL_TA_DOT,    /* . */
    LOGQL_TA_FIELD,  /* .a.b          : fields */
    LOGQL_TA_VAR,    /* $x.a          : name "$x", fields */
    LOGQL_TA_FUNC,   /* ToUpper       : name */
    LOGQL_TA_NIL,    /* nil */
    LOGQL_TA_BOOL,   /* true / false  : b */
    LOGQL_TA_NUMBER, /* 1, 0x1F, 1.5, 'a', 1i */
    LOGQL_TA_STRING, /* "x" / `x`     : s (decoded) */
    LOGQL_TA_PIPE,   /* (pipeline).a  : pipe, fields (the chain, possibly empty) */
};

struct logql_tmpl_number {
    struct str text;
    bool is_int, is_uint, is_float, is_complex;
    int64_t i;
    uint64_t u;
    double f;
    double imag; /* is_complex: the imaginary part (real part in f) */
};

struct logql_tmpl_arg {
    enum logql_tmpl_arg_kind kind;
    struct str name;
    struct str *fields;
    size_t n_fields;
    bool b;
    struct logql_tmpl_number num;
    struct str s;
    struct logql_tmpl_pipe *pipe;
};

struct logql_tmpl_cmd {
    struct logql_tmpl_arg **args; /* args[0] is the function, field or value */
    size_t n_args;
};

struct logql_tmpl_pipe {
    bool is_assign;   /* `$x = ...` rather than `$x := ...` */
    struct str *decl; /* declared/assigned variables */
    size_t n_decl;
    struct logql_tmpl_cmd **cmds; /* the value of cmds[i] is the last argument of cmds[i+1] */
    size_t n_cmds;
};

enum logql_tmpl_node_kind {
    LOGQL_TN_TEXT,
    LOGQL_TN_ACTION,
    LOGQL_TN_IF,
    LOGQL_TN_RANGE,
    LOGQL_TN_WITH,
    LOGQL_TN_TEMPLATE, /* {{template "name" pipe}} and {{block}} */
    LOGQL_TN_BREAK,
    LOGQL_TN_CONTINUE,
};

struct logql_tmpl_node {
    enum logql_tmpl_node_kind kind;
    struct str text;              /* TEXT, after trim markers */
    struct logql_tmpl_pipe *pipe; /* ACTION, IF, RANGE, WITH, TEMPLATE (NULL when absent) */
    struct logql_tmpl_list list;  /* IF, RANGE, WITH bodies */
    struct logql_tmpl_list else_list;
    bool has_else;
    struct str name; /* TEMPLATE */
};

struct logql_tmpl_def {
    struct str name;
    struct logql_tmpl_list body;
};

struct logql_tmpl {
    struct logql_tmpl_list root;
    struct logql_tmpl_def *defs; /* {{define}} and {{block}} definitions */
    size_t n_defs;
};

/* Parses src; `name` ("line", "label") only appears in error messages. */
int logql_tmpl_parse(struct arena *a, const char *name, struct str src, struct logql_tmpl **out,
                     char *err, size_t err_size);

/* True when `name` is a template function LogQL provides. */
bool logql_tmpl_func_known(struct str name);

#endif
