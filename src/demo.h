/* demo.h - demo screens, movies and shows, always in the future. */
#ifndef BOXOFFICE_DEMO_H
#define BOXOFFICE_DEMO_H

#include "store/store.h"

/* Adds the demo data through ordinary admin commands; returns the number
 * of shows created, or -1 on a storage error. */
int demo_seed(struct store *st);

#endif
