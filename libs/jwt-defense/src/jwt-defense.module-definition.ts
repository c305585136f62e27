import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { JwtDefenseModuleOptions } from './jwt-defense.options.js';

export const {
  ConfigurableModuleClass: JwtDefenseConfigurableModule,
  MODULE_OPTIONS_TOKEN: JWT_DEFENSE_MODULE_OPTIONS,
  OPTIONS_TYPE: JWT_DEFENSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JWT_DEFENSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JwtDefenseModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** Injection token of the resolved (defaulted, validated, key-imported) options. */
export const JWT_DEFENSE_OPTIONS = Symbol('JWT_DEFENSE_OPTIONS');
