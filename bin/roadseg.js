#!/usr/bin/env node
// Entry point of the `roadseg` command; the build (`npm run setup`) writes dist/.
import '../dist/src/cli/main.js';
