import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', {
        object: 'process', property: 'env',
        message: 'Read the environment only in src/config/load.ts (the composition root passes config down).',
      }],
    },
  },
  {
    files: ['src/config/load.ts', 'test/**/*.ts', 'bench/**/*.ts', 'vitest.config.ts', 'src/main.ts', 'src/cli/main.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
