// Import boundaries from STYLE.md, enforced: only http/ imports Express, only cluster/ touches
// Redis, only metrics/ imports prom-client, contracts/ and lib/ import nothing of ours.
// Flat config replaces (does not merge) a rule per matching block, so each layer gets one block.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

const EXPRESS = ['express', 'helmet', 'morgan', 'cors', 'express-rate-limit'];
const REDIS = ['redis', '@socket.io/redis-adapter'];
const PROM = ['prom-client'];
const SOCKETIO = ['socket.io'];

const layer = (files, forbidden, extraPatterns = []) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: forbidden.map((name) => ({ name, message: 'Not allowed in this layer (STYLE.md: dependency direction).' })),
        patterns: extraPatterns,
      },
    ],
  },
});
const nothingOfOurs = [{ group: ['../*'], message: 'contracts/ and lib/ import nothing of ours.' }];
// lib/ may use contracts/ (the error catalogue's codes): contracts/ is the bottom layer, it imports nothing.
const onlyContracts = [{ group: ['../*', '!../contracts'], message: 'lib/ imports only contracts/ of ours.' }];

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'dashboard/**', 'coverage/**', 'load-tests/**/dist/**', 'load-tests/**/results/**', 'client/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  // The load tools (bench, soak, reliability) are plain Node ES modules (CommonJS where .cjs).
  {
    files: ['load-tests/**/*.{mjs,js,cjs}'],
    languageOptions: {
      sourceType: 'module',
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', performance: 'readonly', AbortSignal: 'readonly', global: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly',
      },
    },
  },
  { files: ['load-tests/**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
  layer(['server/src/contracts/**/*.ts'], [...EXPRESS, ...REDIS, ...PROM, ...SOCKETIO], nothingOfOurs),
  layer(['server/src/lib/**/*.ts'], [...EXPRESS, ...REDIS, ...PROM, ...SOCKETIO], onlyContracts),
  layer(['server/src/cluster/**/*.ts'], [...EXPRESS, ...PROM]),
  layer(['server/src/http/**/*.ts'], [...REDIS, ...PROM, ...SOCKETIO]),
  layer(['server/src/metrics/**/*.ts'], [...EXPRESS, ...REDIS, ...SOCKETIO]),
  layer(['server/src/realtime/**/*.ts', 'server/src/delivery/**/*.ts', 'server/src/routing/**/*.ts', 'server/src/config/**/*.ts', 'server/src/*.ts'], [...EXPRESS, ...REDIS, ...PROM]),
);
