import { Controller, Get, Inject, Injectable, Module, Req, UseGuards, UnauthorizedException, type CanActivate, type DynamicModule, type ExecutionContext } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { CurrentPrincipal, JwtDefenseModule, type AccessTokenPrincipal, type JwtDefenseModuleOptions } from '@jwt-defense/core';

/** What every variant needs to verify the bench's tokens. */
export interface BenchKeyConfig {
  algorithm: 'HS256' | 'ES256';
  /** HS256 secret, or the ES256 public key in PEM: the strings a Nest tutorial would pass. */
  verifyKey: string;
  issuer: string;
  audience: string;
}

export type UserPayload = { sub: string; roles?: string[]; jti: string; exp: number };
const toMe = (user: UserPayload) => ({ sub: user.sub, roles: user.roles ?? [], jti: user.jti, exp: user.exp });

// ---- none: the same route, no auth at all (the ceiling) ----

@Controller()
class OpenMeController {
  private readonly me = { sub: 'user-0', roles: ['user'], jti: 'none', exp: 0 };
  @Get('me')
  get() {
    return this.me;
  }
}

@Module({ controllers: [OpenMeController] })
export class NoneModule {}

// ---- floor: one trivial global guard (bearer header → Map lookup): the least any Nest authentication costs ----

export const FLOOR_TOKENS = Symbol('FLOOR_TOKENS');

@Injectable()
class FloorGuard implements CanActivate {
  constructor(@Inject(FLOOR_TOKENS) private readonly tokens: Map<string, UserPayload>) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: UserPayload }>();
    const user = this.tokens.get(request.headers.authorization?.slice(7) ?? '');
    if (!user) throw new UnauthorizedException();
    request.user = user;
    return true;
  }
}

@Controller()
class FloorMeController {
  @Get('me')
  get(@Req() request: { user: UserPayload }) {
    return toMe(request.user);
  }
}

@Module({})
export class FloorModule {
  static register(tokens: Map<string, UserPayload>): DynamicModule {
    return {
      module: FloorModule,
      controllers: [FloorMeController],
      providers: [{ provide: FLOOR_TOKENS, useValue: tokens }, { provide: APP_GUARD, useClass: FloorGuard }],
    };
  }
}

// ---- bare: the guard of the @nestjs/jwt documentation (verifyAsync with a string secret/key) ----

const KEY_CONFIG = Symbol('KEY_CONFIG');

@Injectable()
class DocsAuthGuard implements CanActivate {
  constructor(
    private readonly jwt: JwtService,
    @Inject(KEY_CONFIG) private readonly config: BenchKeyConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const [type, token] = (request.headers.authorization ?? '').split(' ');
    if (type !== 'Bearer' || !token) throw new UnauthorizedException();
    try {
      request.user = await this.jwt.verifyAsync(token, {
        secret: this.config.verifyKey,
        algorithms: [this.config.algorithm],
        issuer: this.config.issuer,
        audience: this.config.audience,
      });
    } catch {
      throw new UnauthorizedException();
    }
    return true;
  }
}

@Controller()
class GuardedMeController {
  @UseGuards(DocsAuthGuard)
  @Get('me')
  get(@Req() request: { user: UserPayload }) {
    return toMe(request.user);
  }
}

@Module({})
export class BareModule {
  static register(config: BenchKeyConfig): DynamicModule {
    return {
      module: BareModule,
      imports: [JwtModule.register({})],
      controllers: [GuardedMeController],
      providers: [{ provide: KEY_CONFIG, useValue: config }],
    };
  }
}

// ---- recipe: passport-jwt + @nestjs/throttler with @nest-lab's Redis storage (+ helmet, in main) ----

function jwtStrategy(config: BenchKeyConfig) {
  @Injectable()
  class JwtStrategy extends PassportStrategy(Strategy) {
    constructor() {
      super({
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        secretOrKey: config.verifyKey,
        algorithms: [config.algorithm],
        issuer: config.issuer,
        audience: config.audience,
      });
    }

    validate(payload: UserPayload): UserPayload {
      return payload;
    }
  }
  return JwtStrategy;
}

@Controller()
class PassportMeController {
  @UseGuards(AuthGuard('jwt'))
  @Get('me')
  get(@Req() request: { user: UserPayload }) {
    return toMe(request.user);
  }
}

@Module({})
export class RecipeModule {
  static register(config: BenchKeyConfig, redisUrl: string, limit: number): DynamicModule {
    return {
      module: RecipeModule,
      imports: [
        PassportModule,
        ThrottlerModule.forRoot({ throttlers: [{ limit, ttl: 60_000 }], storage: new ThrottlerStorageRedisService(redisUrl) }),
      ],
      controllers: [PassportMeController],
      providers: [jwtStrategy(config), { provide: APP_GUARD, useClass: ThrottlerGuard }],
    };
  }
}

// ---- limit: the floor guard plus the same security headers the defended app sends, set by one hook ----
// (Express: one middleware; Fastify: one onRequest hook with reply.headers()): the least an authenticated answer with
// those headers can cost.

/** The headers the defended app sends on an authenticated 200 (the library's defaults, `no-store` included). */
export const LIMIT_HEADERS: Readonly<Record<string, string>> = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'x-xss-protection': '0',
  'x-permitted-cross-domain-policies': 'none',
  'cache-control': 'no-store',
};

// ---- defended: the limit app's route with the module instead of the floor guard: every layer on, its Prometheus
// sink, no GraphQL, terminus or ops modules (the whole demo app is measured beside it, as `demo`) ----

@Controller()
class DefendedMeController {
  @Get('me')
  get(@CurrentPrincipal() principal: AccessTokenPrincipal) {
    return { sub: principal.sub, roles: principal.roles, jti: principal.jti, exp: principal.exp };
  }
}

@Module({})
export class DefendedModule {
  static register(options: JwtDefenseModuleOptions): DynamicModule {
    return { module: DefendedModule, imports: [JwtDefenseModule.forRoot(options)], controllers: [DefendedMeController] };
  }
}
