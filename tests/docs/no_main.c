/* SPDX-License-Identifier: BSD-3-Clause */
/* Linked with a documentation block that has no main of its own. */
int main(void);
int main(void) {
  return 0;
}
