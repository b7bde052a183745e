/* A small TAP producer for the C unit tests: each test case is a function
 * of checks; the runner prints "ok N - case" or "not ok N - case" per case,
 * with each failed check's place and message as a "#" line, so automake's
 * TAP driver counts cases per test program. Usage:
 *
 *   static void test_thing(void) { CHECK(x == 1, "x is %d", x); }
 *   int main(void) { static const struct tap_case cases[] = { TAP(test_thing), {0} };
 *                    return tap_run(cases); }
 *
 * Set TAP_ONLY=NAME to run one case. */
#ifndef SHARD_TAP_H
#define SHARD_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tap_case {
	const char *name;
	void (*fn)(void);
};
#define TAP(fn) { #fn, fn }

static int tap_failures, tap_checks;

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		tap_checks++;                                                    \
		if (!(cond)) {                                                   \
			tap_failures++;                                          \
			printf("# FAIL %s:%d: ", __FILE__, __LINE__);            \
			printf(__VA_ARGS__);                                     \
			putchar('\n');                                           \
			fflush(stdout);                                          \
		}                                                                \
	} while (0)

static inline int tap_run(const struct tap_case *cases)
{
	size_t n = 0, i;
	int bad = 0, all = 0;
	const char *only = getenv("TAP_ONLY");
	while (cases[n].name)
		n++;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		int before = tap_failures, cbefore = tap_checks;
		if (only && *only && strcmp(only, cases[i].name)) {
			printf("ok %zu - %s # SKIP not TAP_ONLY\n", i + 1, cases[i].name);
			continue;
		}
		cases[i].fn();
		all += tap_checks - cbefore;
		if (tap_failures != before) {
			bad++;
			printf("not ok %zu - %s (%d of %d checks failed)\n", i + 1, cases[i].name, tap_failures - before,
			       tap_checks - cbefore);
		} else {
			printf("ok %zu - %s (%d checks)\n", i + 1, cases[i].name, tap_checks - cbefore);
		}
	}
	printf("# %d checks, %d failed, in %d cases failed\n", all, tap_failures, bad);
	return bad ? 1 : 0;
}

#endif
