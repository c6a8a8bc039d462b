#!/usr/bin/env node
// The `joch` command. Runs the compiled CLI (npm run build, or npm start, builds it).
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
