import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** The package version, read once (works from src/shared under tsx and from dist/shared). */
export const version: string = (require('../../package.json') as { version: string }).version;
