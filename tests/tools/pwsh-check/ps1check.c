/* SPDX-License-Identifier: MIT */
/*
 * ps1check FILE...: parse each file with the tree-sitter PowerShell grammar (tree-sitter-pwsh,
 * built by tests/tools/pwsh-grammar.sh against Debian's libtree-sitter) and print
 * "FILE:ROW:COL: syntax error" (or "missing TOKEN") for every ERROR or MISSING node, 1-based.
 * Exit 0 when every file parses clean, 1 when one does not, 2 when a file cannot be read.
 * Not compiled by the Makefile's tools rule: it needs the grammar's generated parser.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_powershell(void);

#define MAX_BYTES (16u << 20)

static unsigned report(const char *file, TSNode node, unsigned budget)
{
	unsigned found = 0;

	if (budget == 0)
		return 0;
	if (ts_node_is_missing(node) || strcmp(ts_node_type(node), "ERROR") == 0) {
		TSPoint p = ts_node_start_point(node);

		if (ts_node_is_missing(node))
			printf("%s:%u:%u: missing '%s'\n", file, p.row + 1, p.column + 1,
			       ts_node_type(node));
		else
			printf("%s:%u:%u: syntax error\n", file, p.row + 1, p.column + 1);
		return 1;
	}
	if (!ts_node_has_error(node))
		return 0;
	for (uint32_t i = 0; i < ts_node_child_count(node) && found < budget; i++)
		found += report(file, ts_node_child(node, i), budget - found);
	return found;
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(MAX_BYTES + 1);
	n = buf ? fread(buf, 1, MAX_BYTES + 1, f) : 0;
	if (!buf || ferror(f) || n > MAX_BYTES) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*ret_len = n;
	return buf;
}

int main(int argc, char **argv)
{
	TSParser *parser = ts_parser_new();
	int rc = 0;

	if (argc < 2 || !parser || !ts_parser_set_language(parser, tree_sitter_powershell())) {
		fprintf(stderr, "usage: ps1check FILE... (grammar ABI must match "
				"libtree-sitter)\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		size_t len = 0;
		char *text = slurp(argv[i], &len);
		TSTree *tree;
		TSNode root;

		if (!text) {
			fprintf(stderr,
				"ps1check: cannot read '%s' (missing, unreadable or over "
				"16 MiB)\n",
				argv[i]);
			rc = 2;
			continue;
		}
		tree = ts_parser_parse_string(parser, NULL, text, (uint32_t)len);
		root = ts_tree_root_node(tree);
		if (ts_node_has_error(root)) {
			if (report(argv[i], root, 20) == 0)
				printf("%s:1:1: syntax error\n", argv[i]);
			if (rc == 0)
				rc = 1;
		}
		ts_tree_delete(tree);
		free(text);
	}
	ts_parser_delete(parser);
	return rc;
}
