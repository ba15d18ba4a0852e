// eslint (flat config) with typescript-eslint: `npm run lint`. The rule set is typescript-eslint's recommended one,
// syntax only (no type information: a full type-aware lint of the monorepo takes minutes on the project's 2-core
// machines), with the few changes the code's own conventions call for, each with its reason.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/cjs/**', 'packages/proxy/.build/**', 'bench/results/**', 'packages/broker/src/amqp/methods.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // tsc does not report unused names here (noUnusedLocals is off): eslint does; a leading underscore marks a deliberate one
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // `!` after a lookup the code has just checked (noUncheckedIndexedAccess makes them common): tsc keeps them honest
      '@typescript-eslint/no-non-null-assertion': 'off',
      // a closure declared before the one assignment it reads (a handler that refers to the object it is given to)
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `cond ? a() : b()` and `x && f()` as statements are used on purpose in short cleanup code
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true, allowShortCircuit: true }],
      // `while (true)` / `for (;;)` loops that end by return are the idiom in the parsers
      'no-constant-condition': ['error', { checkLoops: false }],
      // an empty catch with a comment saying why is the house style for best-effort cleanup
      'no-empty': ['error', { allowEmptyCatch: true }],
      // TypeScript checks these better than the JS rules (overloads, declaration merging, globals from @types/node)
      'no-redeclare': 'off',
      'no-undef': 'off',
    },
  },
  {
    // black-box tests and benches read JSON from HTTP APIs and tools: `any` there is what JSON.parse gives
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // helper scripts run by plain node inside test namespaces, CommonJS on purpose
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
