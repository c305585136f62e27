import { Field, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { CurrentPrincipal, TokenService, type AccessTokenPrincipal } from '@jwt-defense/core';

/** The caller, as `GET /me` answers it. */
@ObjectType('Me')
export class MeView {
  @Field() sub!: string;
  @Field(() => [String]) roles!: string[];
  /** Expiry, seconds since the epoch. */
  @Field(() => Int) exp!: number;
  /** The token's id (the demo's tokens; an external issuer's when it has one). */
  @Field({ nullable: true }) jti?: string;
  /** The issuer, for an external issuer's token. */
  @Field({ nullable: true }) iss?: string;
}

/**
 * `POST /graphql { me { sub roles } }`: the same defence as `GET /me` (the global guard runs the pipeline for
 * resolvers: rate limits, token, revocation, risk, anomaly, roles), refusals as GraphQL errors whose
 * `extensions.code` is the REST code.
 */
@Resolver(() => MeView)
export class MeResolver {
  constructor(private readonly tokens: TokenService) {}

  @Query(() => MeView)
  me(@CurrentPrincipal() principal: AccessTokenPrincipal): MeView {
    const own = principal.issuer === this.tokens.issuer;
    return { sub: principal.sub, roles: [...principal.roles], exp: principal.exp, jti: principal.jti, ...(own ? {} : { iss: principal.issuer }) };
  }
}
