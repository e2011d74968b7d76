/**
 * The demo page served at GET /: demo/page.html with demo/main.ts (built on wsfleet/client)
 * bundled and inlined by scripts/build.ts into dist/wsfleet.js. Run from source, without the
 * build, the app serves a page that says so.
 */

declare const __WSFLEET_DEMO_PAGE__: string | undefined;

const UNBUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsfleet demo</title></head>
<body><p>The demo page is part of the build: run <code>npm run build</code> and start dist/wsfleet.js.</p></body>
</html>
`;

/** The demo page: a complete HTML document with inline CSS and JS, no external resources. */
export function demoPage(): string {
  return typeof __WSFLEET_DEMO_PAGE__ === 'string' ? __WSFLEET_DEMO_PAGE__ : UNBUILT;
}
