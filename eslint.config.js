// Lint of the panel's ES modules, their unit tests and the bench harness (dev tool only:
// `npm run lint`, run by `make lint` and `.ci/run`). The panel itself has no dependencies.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["frontend/**/*.js", "bench/bertviz_harness/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
  {
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      eqeqeq: ["error", "smart"],
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    // The project's size limits (README's standards), for the panel and its tests: prettier keeps
    // code within 120 characters but not long strings and comments, which these catch too.
    files: ["frontend/**/*.js", "tests/js/**/*.js"],
    rules: {
      "max-len": ["error", { code: 120 }],
      "max-lines": ["error", { max: 400 }],
      "max-lines-per-function": ["error", { max: 60 }],
    },
  },
];
