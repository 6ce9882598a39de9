/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>

#include <yaml.h>

#include "internal.h"
#include "yamldoc.h"

/*
 * Nodes, arrays and strings of one document come from a chunked arena freed in one go: a
 * manifest is thousands of small nodes, and malloc/free per node cost more than parsing them.
 */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

static void *arena_alloc(struct ydoc *doc, size_t size)
{
	struct arena_chunk *c = doc->arena;
	void *p;

	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < size) {
		size_t want = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		c = malloc(sizeof(*c) + want);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = want;
		c->next = doc->arena;
		doc->arena = c;
	}
	p = (char *)c->data + c->used;
	c->used += size;
	return memset(p, 0, size);
}

void *ydoc_alloc(struct ydoc *doc, size_t size)
{
	return arena_alloc(doc, size);
}

struct convert {
	struct dsvm_ctx *ctx;
	struct ydoc *doc;
	yaml_document_t *ydoc;
	size_t nodes;
	size_t bytes; /* scalar bytes after alias expansion */
};

const char *ynode_kind_name(enum ynode_kind kind)
{
	switch (kind) {
	case YNODE_SCALAR:
		return "a scalar";
	case YNODE_SEQUENCE:
		return "a sequence";
	case YNODE_MAPPING:
		return "a mapping";
	}
	return "?";
}

void ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return;
	while (doc->arena) {
		struct arena_chunk *next = doc->arena->next;

		free(doc->arena);
		doc->arena = next;
	}
	free(doc->text);
	free(doc->path);
	free(doc);
}

int ydoc_sha256(const struct ydoc *doc, char ret_hex[65])
{
	return sha256_buffer_hex(doc->text ? doc->text : "", doc->size, ret_hex);
}

static int yerrorv_at(struct dsvm_ctx *ctx, const char *path, unsigned line, unsigned column,
		      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static int yerrorv_at(struct dsvm_ctx *ctx, const char *path, unsigned line, unsigned column,
		      const char *fmt, va_list ap)
{
	char msg[1536];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return dsvm_set_error(ctx, -EBADMSG, "%s:%u:%u: %s", path, line, column, msg);
}

static int yerror_at(struct dsvm_ctx *ctx, const char *path, unsigned line, unsigned column,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int yerror_at(struct dsvm_ctx *ctx, const char *path, unsigned line, unsigned column,
		     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = yerrorv_at(ctx, path, line, column, fmt, ap);
	va_end(ap);
	return r;
}

int yerror(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *node, const char *fmt,
	   ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = yerrorv_at(ctx, doc->path, node ? node->line : 1, node ? node->column : 1, fmt, ap);
	va_end(ap);
	return r;
}

static int convert_node(struct convert *cv, int index, unsigned depth, struct ynode **ret);

static struct ynode *node_new(struct ydoc *doc, enum ynode_kind kind, const yaml_node_t *yn)
{
	struct ynode *node = arena_alloc(doc, sizeof(*node));

	if (!node)
		return NULL;
	node->kind = kind;
	node->line = (unsigned)yn->start_mark.line + 1;
	node->column = (unsigned)yn->start_mark.column + 1;
	return node;
}

static int cmp_key_index(const void *a, const void *b, void *userdata)
{
	struct ynode *const *keys = userdata;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(keys[x]->value, keys[y]->value);

	return c ? c : (x < y ? -1 : x > y);
}

/*
 * The first key (in document order) that repeats an earlier one, or n when all differ. Sorting
 * keeps a 100,000-key mapping at n log n; a pairwise check took 20 s on one.
 */
static size_t find_duplicate_key(struct ynode **keys, size_t n, size_t *ret_first)
{
	_cleanup_free_ size_t *idx = NULL;
	size_t dup = n;

	if (n < 16) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (streq(keys[i]->value, keys[j]->value)) {
					*ret_first = j;
					return i;
				}
		return n;
	}
	idx = malloc(n * sizeof(*idx));
	if (!idx)
		return n; /* out of memory: the caller's next allocation will say so */
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_key_index, keys);
	for (size_t i = 1, group = 0; i < n; i++) {
		if (!streq(keys[idx[i]]->value, keys[idx[group]]->value)) {
			group = i;
			continue;
		}
		if (idx[i] < dup) {
			dup = idx[i];
			*ret_first = idx[group];
		}
	}
	return dup;
}

static int convert_mapping(struct convert *cv, const yaml_node_t *yn, unsigned depth,
			   struct ynode *node)
{
	size_t n = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start), dup,
	       first = 0;

	node->keys = arena_alloc(cv->doc, (n ? n : 1) * sizeof(*node->keys));
	node->items = arena_alloc(cv->doc, (n ? n : 1) * sizeof(*node->items));
	if (!node->keys || !node->items)
		return -ENOMEM;
	/* Keys first, so duplicates are found before any value is expanded. */
	for (size_t i = 0; i < n; i++) {
		struct ynode *key = NULL;
		int r;

		r = convert_node(cv, yn->data.mapping.pairs.start[i].key, depth + 1, &key);
		if (r < 0)
			return r;
		assert(key); /* convert_node() sets it on success */
		if (key->kind != YNODE_SCALAR)
			return yerror(cv->ctx, cv->doc, key,
				      "a mapping key must be a plain string, not %s",
				      ynode_kind_name(key->kind));
		node->keys[i] = key;
	}
	dup = find_duplicate_key(node->keys, n, &first);
	if (dup < n)
		return yerror(cv->ctx, cv->doc, node->keys[dup],
			      "duplicate key '%s' (first at line %u); each key may appear once per "
			      "mapping",
			      node->keys[dup]->value, node->keys[first]->line);
	for (size_t i = 0; i < n; i++) {
		int r = convert_node(cv, yn->data.mapping.pairs.start[i].value, depth + 1,
				     &node->items[i]);

		if (r < 0)
			return r;
		node->n++;
	}
	return 0;
}

static int convert_node(struct convert *cv, int index, unsigned depth, struct ynode **ret)
{
	yaml_node_t *yn = yaml_document_get_node(cv->ydoc, index);
	struct ynode *node = NULL;
	int r = 0;

	if (!yn)
		return yerror(cv->ctx, cv->doc, NULL, "malformed YAML document");
	if (depth > YDOC_MAX_DEPTH)
		return yerror_at(cv->ctx, cv->doc->path, (unsigned)yn->start_mark.line + 1,
				 (unsigned)yn->start_mark.column + 1,
				 "nesting deeper than %d levels (or an alias that contains itself)",
				 YDOC_MAX_DEPTH);
	if (++cv->nodes > YDOC_MAX_NODES)
		return yerror_at(cv->ctx, cv->doc->path, (unsigned)yn->start_mark.line + 1,
				 (unsigned)yn->start_mark.column + 1,
				 "more than %d nodes after expanding aliases; refusing what looks "
				 "like an alias bomb",
				 YDOC_MAX_NODES);

	switch (yn->type) {
	case YAML_SCALAR_NODE:
		node = node_new(cv->doc, YNODE_SCALAR, yn);
		if (!node)
			return -ENOMEM;
		node->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		/* Aliases copy their target: count bytes too, or one big string repeated
		 * through aliases becomes gigabytes while the node count stays low. */
		cv->bytes += yn->data.scalar.length;
		if (cv->bytes > YDOC_MAX_EXPANDED_BYTES)
			return yerror_at(cv->ctx, cv->doc->path, (unsigned)yn->start_mark.line + 1,
					 (unsigned)yn->start_mark.column + 1,
					 "more than %d bytes of text after expanding aliases; "
					 "refusing "
					 "what looks like an alias bomb",
					 YDOC_MAX_EXPANDED_BYTES);
		node->value = arena_alloc(cv->doc, yn->data.scalar.length + 1);
		if (!node->value)
			return -ENOMEM;
		memcpy(node->value, yn->data.scalar.value, yn->data.scalar.length);
		if (strlen(node->value) != yn->data.scalar.length)
			r = yerror(cv->ctx, cv->doc, node, "a NUL character inside a string");
		break;
	case YAML_SEQUENCE_NODE: {
		size_t n = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);

		node = node_new(cv->doc, YNODE_SEQUENCE, yn);
		if (!node)
			return -ENOMEM;
		node->items = arena_alloc(cv->doc, (n ? n : 1) * sizeof(*node->items));
		if (!node->items) {
			r = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < n && r >= 0; i++) {
			node->n++;
			r = convert_node(cv, yn->data.sequence.items.start[i], depth + 1,
					 &node->items[i]);
		}
		break;
	}
	case YAML_MAPPING_NODE:
		node = node_new(cv->doc, YNODE_MAPPING, yn);
		if (!node)
			return -ENOMEM;
		r = convert_mapping(cv, yn, depth, node);
		break;
	default:
		return yerror(cv->ctx, cv->doc, NULL, "empty YAML node");
	}
	if (r < 0)
		return r; /* the node stays in the arena, freed with the document */
	*ret = node;
	return 0;
}

int ydoc_parse(struct dsvm_ctx *ctx, const char *name, const char *buf, size_t size,
	       struct ydoc **ret_doc)
{
	yaml_parser_t parser;
	yaml_document_t ydoc, extra;
	struct ydoc *doc;
	int r = 0;

	if (size > YDOC_MAX_BYTES)
		return dsvm_set_error(ctx, -EFBIG, "%s:1:1: file is larger than %d bytes", name,
				      YDOC_MAX_BYTES);
	doc = calloc(1, sizeof(*doc));
	if (!doc)
		return -ENOMEM;
	doc->path = strdup(name);
	if (!doc->path || !yaml_parser_initialize(&parser)) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, size);

	if (!yaml_parser_load(&parser, &ydoc)) {
		const yaml_mark_t *mark =
			parser.problem ? &parser.problem_mark : &parser.context_mark;

		r = yerror_at(ctx, name, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
			      "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "?",
			      parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		ydoc_free(doc);
		return r;
	}

	if (!yaml_document_get_root_node(&ydoc)) {
		r = yerror_at(ctx, name, 1, 1, "the file holds no YAML document");
	} else {
		struct convert cv = { .ctx = ctx, .doc = doc, .ydoc = &ydoc };

		r = convert_node(&cv, 1, 0, &doc->root);
	}
	yaml_document_delete(&ydoc);

	/* A second document would be silently ignored by a loader that stops at the first. */
	if (r >= 0) {
		if (!yaml_parser_load(&parser, &extra)) {
			r = yerror_at(ctx, name, (unsigned)parser.problem_mark.line + 1,
				      (unsigned)parser.problem_mark.column + 1,
				      "YAML syntax error: %s",
				      parser.problem ? parser.problem : "?");
		} else {
			yaml_node_t *root = yaml_document_get_root_node(&extra);

			if (root)
				r = yerror_at(ctx, name, (unsigned)root->start_mark.line + 1,
					      (unsigned)root->start_mark.column + 1,
					      "a second YAML document; one file holds one "
					      "document");
			yaml_document_delete(&extra);
		}
	}
	yaml_parser_delete(&parser);
	if (r < 0) {
		ydoc_free(doc);
		return r;
	}
	*ret_doc = doc;
	return 0;
}

int ydoc_read(struct dsvm_ctx *ctx, const char *path, char **ret_buf, size_t *ret_size)
{
	int r = read_file_capped(path, YDOC_MAX_BYTES, ret_buf, ret_size);

	if (r == -EFBIG)
		return dsvm_set_error(ctx, r, "%s:1:1: file is larger than %d bytes", path,
				      YDOC_MAX_BYTES);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read '%s': %s", path, strerror(-r));
	return 0;
}

int ydoc_load(struct dsvm_ctx *ctx, const char *path, struct ydoc **ret_doc)
{
	_cleanup_free_ char *buf = NULL;
	struct ydoc *doc = NULL;
	size_t size = 0;
	int r;

	r = ydoc_read(ctx, path, &buf, &size);
	if (r < 0)
		return r;
	r = ydoc_parse(ctx, path, buf, size, &doc);
	if (r < 0)
		return r;
	assert(doc); /* ydoc_parse() sets it on success */
	doc->text = TAKE_PTR(buf);
	doc->size = size;
	*ret_doc = doc;
	return 0;
}

struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAPPING)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (streq(map->keys[i]->value, key))
			return map->items[i];
	return NULL;
}

int yexpect(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *node,
	    enum ynode_kind kind, const char *what)
{
	if (node->kind == kind)
		return 0;
	return yerror(ctx, doc, node, "expected %s for %s, got %s", ynode_kind_name(kind), what,
		      ynode_kind_name(node->kind));
}

int ymap_check_keys(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
		    const char *const *allowed)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *key = map->keys[i]->value;
		char valid[512] = "";
		size_t j;

		for (j = 0; allowed[j]; j++)
			if (streq(allowed[j], key))
				break;
		if (allowed[j])
			continue;
		for (j = 0; allowed[j]; j++) {
			size_t len = strlen(valid);

			snprintf(valid + len, sizeof(valid) - len, "%s%s", j ? ", " : "",
				 allowed[j]);
		}
		return yerror(ctx, doc, map->keys[i], "unknown key '%s'; valid keys here: %s", key,
			      valid);
	}
	return 0;
}

static int missing_key(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
		       const char *key)
{
	return yerror(ctx, doc, map, "missing required key '%s'", key);
}

int yget_str(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map, const char *key,
	     bool required, const char **ret)
{
	const struct ynode *v = ymap_get(map, key);

	if (!v)
		return required ? missing_key(ctx, doc, map, key) : 0;
	if (v->kind != YNODE_SCALAR)
		return yerror(ctx, doc, v, "expected a string for '%s', got %s", key,
			      ynode_kind_name(v->kind));
	if (v->plain && (v->value[0] == '\0' || streq(v->value, "~") || streq(v->value, "null")))
		return yerror(ctx, doc, v, "'%s' is empty; give it a value", key);
	*ret = v->value;
	return 0;
}

int yget_bool(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
	      const char *key, bool *ret)
{
	const struct ynode *v = ymap_get(map, key);

	if (!v)
		return 0;
	if (v->kind == YNODE_SCALAR && v->plain && streq(v->value, "true"))
		*ret = true;
	else if (v->kind == YNODE_SCALAR && v->plain && streq(v->value, "false"))
		*ret = false;
	else
		return yerror(ctx, doc, v, "expected true or false for '%s', got '%s'", key,
			      v->kind == YNODE_SCALAR ? v->value : ynode_kind_name(v->kind));
	return 0;
}

int yget_uint(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
	      const char *key, bool required, unsigned long long max, unsigned long long *ret)
{
	const struct ynode *v = ymap_get(map, key);
	unsigned long long x;
	char *end;

	if (!v)
		return required ? missing_key(ctx, doc, map, key) : 0;
	if (v->kind != YNODE_SCALAR || !v->value[0] || v->value[0] == '-' || v->value[0] == '+')
		goto bad;
	errno = 0;
	x = strtoull(v->value, &end, 10);
	if (errno || *end || x > max)
		goto bad;
	*ret = x;
	return 0;
bad:
	return yerror(ctx, doc, v, "expected a whole number from 0 to %llu for '%s', got '%s'", max,
		      key, v->kind == YNODE_SCALAR ? v->value : ynode_kind_name(v->kind));
}

int yget_str_list(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
		  const char *key, const char ***ret, size_t *ret_n)
{
	const struct ynode *v = ymap_get(map, key);
	const char **list;

	if (!v) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (v->kind == YNODE_SCALAR) {
		list = calloc(1, sizeof(*list));
		if (!list)
			return -ENOMEM;
		list[0] = v->value;
		*ret = list;
		*ret_n = 1;
		return 0;
	}
	if (v->kind != YNODE_SEQUENCE)
		return yerror(ctx, doc, v, "expected a list of strings for '%s', got %s", key,
			      ynode_kind_name(v->kind));
	list = calloc(v->n ? v->n : 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->kind != YNODE_SCALAR) {
			free(list);
			return yerror(ctx, doc, v->items[i],
				      "expected a string in the list '%s', got %s", key,
				      ynode_kind_name(v->items[i]->kind));
		}
		list[i] = v->items[i]->value;
	}
	*ret = list;
	*ret_n = v->n;
	return 0;
}
