/** `wsfleet images validate`: packer fmt -check and packer validate of both image templates. */
import type { Command } from '../../daemons/shared/command.ts';
import { parseCommand } from '../../daemons/shared/config.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { validateOptions } from './config.ts';
import { ImageError } from './errors.ts';
import { findCheckout, imagePaths } from './paths.ts';
import { validateTemplates } from './validate-templates.ts';

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet images validate [flags]',
    'Check the image templates: packer fmt -check over images/packer/, and packer validate of the app and renewer templates as a build assembles them for the installed packer.',
    validateOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  try {
    await validateTemplates(config.packer, {
      paths: imagePaths(findCheckout()),
      write: (text) => process.stdout.write(text),
      env,
    });
    process.stdout.write('The image templates are valid.\n');
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ImageError) {
      process.stderr.write(`wsfleet images validate: ${err.code}: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
};
